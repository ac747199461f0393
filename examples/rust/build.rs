//! Builds libaxpy.so with tritium's AOT compiler (Python is needed here, at build time
//! only), or takes a prebuilt one from TRITIUM_AOT_DIR, and links the program against it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=kernels.py");
    println!("cargo:rerun-if-env-changed=TRITIUM_AOT_DIR");
    let dir = match env::var("TRITIUM_AOT_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let out = PathBuf::from(env::var("OUT_DIR").unwrap());
            let python = env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
            let status = Command::new(python)
                .args([
                    "-m",
                    "tritium.tools.aot",
                    "kernels.py:axpy",
                    "--grid",
                    "cdiv(n, BLOCK)",
                ])
                .args(["-s", "*fp32:16, *fp32:16, *fp32:16, i32, fp32, 1024"])
                .args(["-s", "*fp32, *fp32, *fp32, i32, fp32, 1024"])
                .arg("-o")
                .arg(&out)
                .status()
                .expect("could not run python -m tritium.tools.aot (set PYTHON)");
            assert!(status.success(), "tritium.tools.aot failed");
            out
        }
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=axpy");
    // found at run time without LD_LIBRARY_PATH
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}
