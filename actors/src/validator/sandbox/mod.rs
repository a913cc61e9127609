//! Layer 6: compile to wasm32 with rustc ([`compile`]) and run in wasmtime ([`runtime`]).

pub mod compile;
pub mod runtime;
