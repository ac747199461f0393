//! out = a * x + y on a Vec<f32>, by a tritium kernel compiled ahead of time: no Python, no
//! LLVM at run time. The declarations below mirror the generated axpy.h.

use std::os::raw::c_char;

const TRITIUM_AOT_DTYPE_FP32: i32 = 12;

extern "C" {
    /// The dispatcher by alignment hints: the caller gives the grid.
    fn axpy(
        x: *const f32,
        y: *const f32,
        out: *mut f32,
        n: i32,
        a: f32,
        gx: i32,
        gy: i32,
        gz: i32,
        num_threads: i32,
        err: *mut i32,
    ) -> i32;
    /// The dispatcher by dtype and size: it computes the grid (cdiv(n, BLOCK)).
    fn axpy_any(
        x: *const f32,
        x_dtype: i32,
        y: *const f32,
        y_dtype: i32,
        out: *mut f32,
        out_dtype: i32,
        n: i64,
        a: f64,
        num_threads: i32,
        err: *mut i32,
    ) -> i32;
    fn axpy_select(
        x: *const f32,
        x_dtype: i32,
        y: *const f32,
        y_dtype: i32,
        out: *mut f32,
        out_dtype: i32,
        n: i64,
        a: f64,
    ) -> i32;
    fn axpy_variant_name(index: i32) -> *const c_char;
}

/// xorshift64*: inputs without a crate; the seed comes from TRITIUM_TEST_SEED when set.
fn uniform(state: &mut u64) -> f32 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
    bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
}

fn check(name: &str, x: &[f32], y: &[f32], a: f32, out: &[f32]) -> Result<f64, String> {
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        let want = a as f64 * x[i] as f64 + y[i] as f64;
        let diff = (out[i] as f64 - want).abs();
        if !(diff <= 1e-6 * (1.0 + want.abs())) {
            return Err(format!("{name}: out[{i}] = {} but a*x+y = {want}", out[i]));
        }
        worst = worst.max(diff);
    }
    Ok(worst)
}

fn main() {
    let seed: u64 = std::env::var("TRITIUM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = 100_003;
    let a: f32 = 1.75;
    // one element of slack: offset 1 makes the buffers unaligned (the other variant)
    let x: Vec<f32> = (0..n + 1).map(|_| uniform(&mut state)).collect();
    let y: Vec<f32> = (0..n + 1).map(|_| uniform(&mut state)).collect();
    for offset in [0usize, 1] {
        let (xs, ys) = (&x[offset..offset + n], &y[offset..offset + n]);
        let mut out = vec![f32::NAN; n + 1];
        let os = &mut out[offset..offset + n];
        let mut err = [0i32; 4];
        let grid = ((n + 1023) / 1024) as i32;
        let rc = unsafe {
            axpy(
                xs.as_ptr(),
                ys.as_ptr(),
                os.as_mut_ptr(),
                n as i32,
                a,
                grid,
                1,
                1,
                0,
                err.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "axpy returned {rc}, err {err:?}");
        let worst = check("axpy", xs, ys, a, os).unwrap_or_else(|e| panic!("{e}"));

        let mut out2 = vec![f32::NAN; n];
        let f32c = TRITIUM_AOT_DTYPE_FP32;
        let (xp, yp, op) = (xs.as_ptr(), ys.as_ptr(), out2.as_mut_ptr());
        let pick = unsafe { axpy_select(xp, f32c, yp, f32c, op, f32c, n as i64, a as f64) };
        let name = unsafe { std::ffi::CStr::from_ptr(axpy_variant_name(pick)) };
        let rc = unsafe {
            axpy_any(
                xp,
                f32c,
                yp,
                f32c,
                op,
                f32c,
                n as i64,
                a as f64,
                2,
                err.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "axpy_any returned {rc}, err {err:?}");
        check("axpy_any", xs, ys, a, &out2).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "offset {offset}: ok, max error {worst:.3e}, axpy_any ran {}",
            name.to_string_lossy()
        );
    }
}
