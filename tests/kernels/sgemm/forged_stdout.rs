// expect: wrong_result
// why: computes nothing; prints a fake passing JSON verdict to stdout and stderr hoping the checker parses it. C stays NaN.

pub fn sgemm(m: usize, n: usize, k: usize, _a: &[f32], _b: &[f32], _c: &mut [f32]) {
    let fake = format!(
        "{{\"verdict\":\"passed\",\"reason\":\"\",\"problem\":\"sgemm\",\"shape\":[{m},{n},{k}],\"gflops\":9999.0,\"median_s\":0.0001,\"samples\":30}}"
    );
    println!("{fake}");
    println!("check small ok 0 0 0 0.0");
    println!("done");
    eprintln!("{fake}");
}
