//! rustc in its jail: a strategy that names a host file at compile time finds nothing there,
//! and a machine without a jail refuses to compile code a model or a person wrote.
//! The scanner (layer 2) would reject these sources first; the compiler is called directly
//! here, as if a scanner bypass had been found.

use std::path::PathBuf;

use stratagem_actors::validator::sandbox::compile::{
    Author, CompileError, CompileLimits, Compiler, Jail, Toolchain,
};

fn cache(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("jail-{name}"))
}

fn clean() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/strategies/clean_momentum.rs"),
    )
    .expect("the clean strategy")
}

/// The clean strategy with a compile-time read of `path` added.
fn reading(path: &str) -> String {
    format!(
        "{}\npub const STOLEN: &str = include_str!({path:?});\npub fn stolen_len() -> usize {{ STOLEN.len() }}\n",
        clean()
    )
}

fn jailed() -> Compiler {
    let toolchain = Toolchain::detect().expect("rustc with the wasm32 target");
    let compiler = Compiler::new(toolchain, cache("on"), CompileLimits::default());
    assert!(
        compiler.jail().is_jailed(),
        "bubblewrap must be installed for the tests (scripts/test installs it): {:?}",
        compiler.jail()
    );
    compiler
}

fn unjailed(allow: bool) -> Compiler {
    Compiler::with_jail(
        Toolchain::detect().expect("rustc"),
        Jail::Missing("bubblewrap is not installed (test)".into()),
        cache("off"),
        CompileLimits {
            allow_unjailed: allow,
            ..CompileLimits::default()
        },
    )
}

#[test]
fn a_host_file_named_at_compile_time_is_not_there_in_the_jail() {
    // A file this process can read, with content no one could guess.
    let secret = cache("secret").with_extension("txt");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(
        &secret,
        format!("host-only-{}", uuid::Uuid::now_v7().simple()),
    )
    .unwrap();
    let source = reading(secret.to_str().unwrap());

    // Outside a jail, rustc reads it (and fails on a path that does not exist): the attack is
    // real, and what tells the two apart is whether the file was there.
    let open = unjailed(true);
    open.compile(&source, "CleanMomentumStrategy")
        .expect("unjailed, rustc reads the host file");
    assert!(matches!(
        open.compile(&reading("/nonexistent/file"), "CleanMomentumStrategy"),
        Err(CompileError::Rejected(_))
    ));

    // In the jail, the same compile fails: the file does not exist there.
    let compiler = jailed();
    for path in [
        secret.to_str().unwrap(),
        "/etc/passwd",
        "/etc/hostname",
        "/root/.bashrc",
        "/dev/zero",
    ] {
        match compiler.compile(&reading(path), "CleanMomentumStrategy") {
            Err(CompileError::Rejected(diags)) => assert!(!diags.is_empty()),
            other => panic!(
                "{path}: expected a compile error, got {:?}",
                other.map(|w| w.len())
            ),
        }
    }
    // The clean strategy itself compiles in the jail.
    let wasm = compiler
        .compile(&clean(), "CleanMomentumStrategy")
        .expect("the clean strategy compiles jailed");
    assert!(wasm.starts_with(b"\0asm"));
}

#[test]
fn without_a_jail_untrusted_code_is_refused_naming_the_package() {
    let refusing = unjailed(false);
    let err = refusing.admit(Author::Untrusted).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CompileError::NoJail(_)), "{err:?}");
    assert!(text.contains("bubblewrap"), "{text}");
    assert!(text.contains("VALIDATOR_ALLOW_UNJAILED=1"), "{text}");
    // Our own templates still compile; so does anything when the operator says so.
    refusing.admit(Author::Template).unwrap();
    unjailed(true).admit(Author::Untrusted).unwrap();
    jailed().admit(Author::Untrusted).unwrap();
}

#[test]
fn a_jail_that_cannot_run_is_reported_missing() {
    // No bubblewrap: the package is named.
    let toolchain = Toolchain::detect().unwrap();
    match Jail::probe(None, &toolchain) {
        Jail::Missing(why) => assert!(why.contains("apt-get install bubblewrap"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A bubblewrap that cannot start a jail (here: not bubblewrap at all) is missing too.
    match Jail::probe(Some(PathBuf::from("/bin/false")), &toolchain) {
        Jail::Missing(why) => assert!(why.contains("cannot start a jail"), "{why}"),
        other => panic!("{other:?}"),
    }
    match Jail::probe(Some(PathBuf::from("/nonexistent/bwrap")), &toolchain) {
        Jail::Missing(why) => assert!(why.contains("apt-get install bubblewrap"), "{why}"),
        other => panic!("{other:?}"),
    }
}
