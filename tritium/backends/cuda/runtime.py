"""placeholder"""


class CUDAKernel:
    def __init__(self, artifact):
        self.artifact = artifact
