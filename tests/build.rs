//! Generates the Loki push messages the end-to-end tests encode with, from
//! `proto/loki_push.proto`, with protox (a protobuf compiler in Rust, so no
//! `protoc` to install) and prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/loki_push.proto");
    let fds = protox::compile(["proto/loki_push.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
