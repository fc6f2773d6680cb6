//! Tells the kernel tests which of the kernels' instructions the building machine has, so
//! that a test of a kernel this CPU cannot run is reported as ignored, not as passed. It
//! changes nothing in the library: the search picks its kernel when it runs.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cpu_has_avx512, cpu_has_sha_ni)");
    println!("cargo::rerun-if-changed=build.rs");
    // Only when the tests will run where they are built.
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    #[cfg(target_arch = "x86_64")]
    if native {
        if std::is_x86_feature_detected!("avx512f") {
            println!("cargo::rustc-cfg=cpu_has_avx512");
        }
        if std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("sse4.1")
            && std::is_x86_feature_detected!("ssse3")
        {
            println!("cargo::rustc-cfg=cpu_has_sha_ni");
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = native;
}
