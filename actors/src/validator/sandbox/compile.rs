//! Compiling an untrusted strategy to WebAssembly without letting it touch the machine.
//!
//! 1. The SDK (`templates/sdk/stratagem_sdk.rs`) is compiled once per rustc version and SDK hash
//!    to a wasm32 rlib, cached under the cache directory.
//! 2. The strategy is compiled alone as an rlib with `-F unsafe_code -F long_running_const_eval`,
//!    with no `-L` and no `--extern` but the SDK, and never `--cap-lints`.
//! 3. Our trusted glue (`templates/sdk/glue.rs.in`) is linked as the cdylib that exports the
//!    sandbox ABI.
//!
//! A compiled module is cached (`cache/modules-<SDK, glue and flags key>/<source hash>.wasm`,
//! published by rename): validation compiles a strategy, and its stages, backtests and the
//! monitor load the same module without running rustc, or even looking for it, again.
//!
//! rustc runs as a `tokio::process` child with `kill_on_drop`: a compile whose caller goes away
//! (a cancelled job, a timeout) takes rustc with it. [`Compiler::compile_async`] is the async
//! path (the pipeline's validations await it); [`Compiler::compile`] runs the same on a runtime
//! of its own, on a thread of its own, so synchronous callers work from any context.
//!
//! rustc runs in an OS jail ([`Jail`], bubblewrap) when the machine has one: a read-only
//! toolchain sysroot and SDK, the system's shared libraries, only the compile's own scratch
//! folder writable, nothing else of the filesystem (no `/etc`, no `/home`, no `/dev`), no
//! network, new PID/IPC/UTS/user namespaces, a cleared environment, killed with its parent. So
//! a strategy that names a host file at compile time finds nothing there. Both jailed and not,
//! rustc runs under rlimits on address space, CPU time, file size and processes
//! ([`CompileLimits`]) and one wall-clock budget for both of a compile's rustc runs. Without a
//! jail, code a model or a person wrote is refused ([`CompileError::NoJail`]) unless
//! `VALIDATOR_ALLOW_UNJAILED=1`, and every unjailed compile says so.
//!
//! rustc's stderr is never passed on: it could quote files from the machine. We report our own
//! summary: error codes and line numbers.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use sha2::{Digest, Sha256};

/// The SDK source compiled into every strategy.
pub const SDK_SOURCE: &str = include_str!("../../../../templates/sdk/stratagem_sdk.rs");
/// The glue template; `__STRATEGY_TYPE__` is replaced by the strategy's type name.
pub const GLUE_TEMPLATE: &str = include_str!("../../../../templates/sdk/glue.rs.in");
/// The compilation target.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Limits on one compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Wall-clock budget of one compile: both its rustc runs (the strategy, then the glue)
    /// together (`VALIDATOR_COMPILE_TIMEOUT_SECONDS`). Each run also has this much CPU time.
    pub timeout: Duration,
    /// Address-space limit of rustc, in bytes.
    pub address_space_bytes: u64,
    /// Largest file rustc may write, in bytes.
    pub file_size_bytes: u64,
    /// Processes (and threads) of rustc's user (`RLIMIT_NPROC`; not enforced for root).
    pub processes: u32,
    /// Compile code a model or a person wrote even where no jail is available
    /// (`VALIDATOR_ALLOW_UNJAILED=1`).
    pub allow_unjailed: bool,
}

impl Default for CompileLimits {
    /// 60 s and 2 GiB: a strategy takes ~0.1 s and ~100 MB; compile-time bombs hit a limit.
    /// Files up to 256 MiB (a module is ~2 MB), 1,024 processes, no compile without a jail.
    fn default() -> Self {
        CompileLimits {
            timeout: Duration::from_secs(60),
            address_space_bytes: 2 << 30,
            file_size_bytes: 256 << 20,
            processes: 1024,
            allow_unjailed: false,
        }
    }
}

/// Who wrote the code being compiled: the jail is required for code we did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// One of our templates with its parameters filled in.
    Template,
    /// A model's reply, a file a person gave, anything else.
    Untrusted,
}

impl Author {
    /// Who wrote strategy `id` as the log has it: ours only when one of our templates generated
    /// it; a strategy the log does not know (a file given) or a model's is untrusted.
    pub fn of_recorded(state: &stratagem_events::Projections, id: Option<uuid::Uuid>) -> Author {
        match id.and_then(|id| state.strategies.get(&id)) {
            Some(view) if view.mode == stratagem_events::GenerationMode::Template => {
                Author::Template
            }
            _ => Author::Untrusted,
        }
    }
}

/// The OS jail rustc runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jail {
    /// bubblewrap (`bwrap`) at this path, checked to run this rustc.
    Bubblewrap(PathBuf),
    /// No jail on this machine, and why.
    Missing(String),
}

impl Jail {
    /// Finds `bwrap` on `PATH` (or at `STRATAGEM_BWRAP`) and checks it can run `rustc -V` in
    /// the jail this module builds (user namespaces can be switched off).
    pub fn detect(toolchain: &Toolchain) -> Jail {
        let found = std::env::var_os("STRATAGEM_BWRAP")
            .map(PathBuf::from)
            .map(|p| p.is_file().then_some(p))
            .unwrap_or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|dir| dir.join("bwrap"))
                        .find(|p| p.is_file())
                })
            });
        Jail::probe(found, toolchain)
    }

    /// Checks that `bwrap` (none: not installed) can run `rustc -V` in the jail.
    pub fn probe(bwrap: Option<PathBuf>, toolchain: &Toolchain) -> Jail {
        let Some(bwrap) = bwrap.filter(|p| p.is_file()) else {
            return Jail::Missing(
                "bubblewrap is not installed (Debian's `bubblewrap` package: `apt-get install bubblewrap`)"
                    .into(),
            );
        };
        let probe = std::env::temp_dir();
        let out = std::process::Command::new(&bwrap)
            .args(jail_args(toolchain, &probe, None))
            .arg(&toolchain.rustc)
            .arg("-V")
            .env_clear()
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => Jail::Bubblewrap(bwrap),
            Ok(out) => Jail::Missing(format!(
                "{} cannot start a jail here ({}): user namespaces may be switched off",
                bwrap.display(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("no reason given")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            )),
            Err(e) => Jail::Missing(format!("cannot run {}: {e}", bwrap.display())),
        }
    }

    /// Whether rustc runs jailed.
    pub fn is_jailed(&self) -> bool {
        matches!(self, Jail::Bubblewrap(_))
    }
}

/// bubblewrap's arguments for a rustc working in `work`, reading the SDK in `sdk_dir`: the
/// system's shared libraries and the sysroot read-only, `work` writable, nothing else.
fn jail_args(
    toolchain: &Toolchain,
    work: &Path,
    sdk_dir: Option<&Path>,
) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |items: &[&std::ffi::OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
    push(&[
        "--unshare-all".as_ref(),
        "--die-with-parent".as_ref(),
        "--clearenv".as_ref(),
        "--setenv".as_ref(),
        "PATH".as_ref(),
        "/usr/bin:/bin".as_ref(),
        "--setenv".as_ref(),
        "HOME".as_ref(),
        work.as_os_str(),
        "--setenv".as_ref(),
        "TMPDIR".as_ref(),
        work.as_os_str(),
        "--ro-bind".as_ref(),
        "/usr/lib".as_ref(),
        "/usr/lib".as_ref(),
        "--ro-bind-try".as_ref(),
        "/usr/lib64".as_ref(),
        "/usr/lib64".as_ref(),
    ]);
    // Where the dynamic loader and libc are: a merged /usr links them, else they are folders.
    for dir in ["/lib", "/lib64"] {
        match std::fs::read_link(dir) {
            Ok(target) => push(&["--symlink".as_ref(), target.as_os_str(), dir.as_ref()]),
            Err(_) => push(&["--ro-bind-try".as_ref(), dir.as_ref(), dir.as_ref()]),
        }
    }
    push(&[
        "--ro-bind".as_ref(),
        toolchain.sysroot.as_os_str(),
        toolchain.sysroot.as_os_str(),
        // rustc finds its own libraries through /proc/self/exe.
        "--proc".as_ref(),
        "/proc".as_ref(),
    ]);
    if let Some(sdk) = sdk_dir {
        push(&["--ro-bind".as_ref(), sdk.as_os_str(), sdk.as_os_str()]);
    }
    push(&[
        "--bind".as_ref(),
        work.as_os_str(),
        work.as_os_str(),
        "--chdir".as_ref(),
        work.as_os_str(),
        "--".as_ref(),
    ]);
    a
}

/// One compiler diagnostic, as we report it: the code, the line, and rustc's one-line main
/// message with paths removed and control characters stripped (never its rendered output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// rustc's error code (`E0425`), when it gave one.
    pub code: Option<String>,
    /// 1-based line in the strategy file.
    pub line: Option<u32>,
    /// rustc's main message (`mismatched types`), paths removed, at most 300 characters.
    pub message: Option<String>,
}

/// A compiler message made safe to show and to put in a prompt: every word that looks like a
/// path becomes `<path>` (they would reveal the host's layout), control characters go, one
/// line, at most 300 characters.
pub fn without_paths(message: &str) -> String {
    let words: Vec<String> = message
        .split_whitespace()
        .map(|w| {
            let bare = w.trim_matches(|c: char| "`'\"(),;:".contains(c));
            if !bare.is_empty()
                && (bare.contains('/') || bare.contains('\\') || bare.ends_with(".rs"))
            {
                w.replace(bare, "<path>")
            } else {
                w.to_string()
            }
        })
        .collect();
    words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control() && !stratagem_events::text::is_unsafe_char(*c))
        .take(300)
        .collect()
}

/// Why a strategy did not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The wasm target is missing.
    #[error("the wasm32-unknown-unknown target is not installed: run `rustup target add wasm32-unknown-unknown`")]
    MissingTarget,
    /// No usable rustc.
    #[error("no usable rustc: {0}")]
    NoToolchain(String),
    /// rustc ran out of time.
    #[error("compilation took longer than {0:?} and was stopped")]
    Timeout(Duration),
    /// rustc ran out of memory or was killed.
    #[error("compilation was stopped by the memory limit or a signal")]
    Killed,
    /// No jail, and the code is not ours.
    #[error("rustc runs only in a jail for code a model or a person wrote, and {0}; install it, or set VALIDATOR_ALLOW_UNJAILED=1 to compile without one")]
    NoJail(String),
    /// The strategy has compile errors.
    #[error("the strategy does not compile: {}", summary(.0))]
    Rejected(Vec<Diagnostic>),
    /// The strategy compiled but the glue could not use its type.
    #[error("the strategy type `{0}` must be a `pub struct` implementing `Strategy`")]
    BadStrategyType(String),
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The trusted SDK or glue failed to compile: a bug of ours, not the strategy's.
    #[error("internal error: the {0} did not compile with this rustc")]
    Internal(&'static str),
}

fn summary(diags: &[Diagnostic]) -> String {
    let parts: Vec<String> = diags
        .iter()
        .take(10)
        .map(|d| match (&d.code, d.line) {
            (Some(c), Some(l)) => format!("{c} at line {l}"),
            (Some(c), None) => c.clone(),
            (None, Some(l)) => format!("error at line {l}"),
            (None, None) => "error".into(),
        })
        .collect();
    if parts.is_empty() {
        "rustc reported errors".into()
    } else {
        parts.join(", ")
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CompileError {
    let path = path.to_path_buf();
    move |source| CompileError::Io {
        action,
        path,
        source,
    }
}

/// The rustc found on this machine.
#[derive(Debug, Clone)]
pub struct Toolchain {
    rustc: PathBuf,
    sysroot: PathBuf,
    version: String,
}

impl Toolchain {
    /// Finds rustc (env `RUSTC`, else on `PATH`), resolves the real binary in its sysroot, and
    /// checks that the wasm32 target is installed.
    ///
    /// # Errors
    /// [`CompileError::NoToolchain`], or [`CompileError::MissingTarget`].
    pub fn detect() -> Result<Toolchain, CompileError> {
        let launcher = std::env::var_os("RUSTC")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("rustc"));
        let output = |args: &[&str]| -> Result<String, CompileError> {
            let out = std::process::Command::new(&launcher)
                .args(args)
                .env_remove("RUSTC_BOOTSTRAP")
                .output()
                .map_err(|e| {
                    CompileError::NoToolchain(format!("cannot run {}: {e}", launcher.display()))
                })?;
            if !out.status.success() {
                return Err(CompileError::NoToolchain(format!(
                    "`{} {}` failed",
                    launcher.display(),
                    args.join(" ")
                )));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let sysroot = PathBuf::from(output(&["--print", "sysroot"])?);
        let version = output(&["-vV"])?;
        let rustc = sysroot.join("bin/rustc");
        if !rustc.exists() {
            return Err(CompileError::NoToolchain(format!(
                "{} does not exist",
                rustc.display()
            )));
        }
        if !sysroot
            .join("lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir()
        {
            return Err(CompileError::MissingTarget);
        }
        Ok(Toolchain {
            rustc,
            sysroot,
            version,
        })
    }

    /// `rustc -vV`.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// Compiles strategies to wasm modules.
#[derive(Debug, Clone)]
pub struct Compiler {
    toolchain: Toolchain,
    jail: Jail,
    cache_dir: PathBuf,
    limits: CompileLimits,
}

/// Flags shared by every compilation.
const COMMON_FLAGS: &[&str] = &[
    "--edition",
    "2021",
    "--target",
    TARGET,
    "-C",
    "opt-level=3",
    "-C",
    "debuginfo=0",
    "-C",
    "codegen-units=1",
    "--error-format=short",
];

/// Where the module of `source` is cached under `cache_dir`: keyed by the strategy type and
/// source, the SDK, the glue and the flags. Not by rustc's version: a module is what was
/// validated, and the stages and backtests of that source run that same module after a rustc
/// upgrade (the SDK rlib, which must match rustc, is keyed by it).
fn module_path(cache_dir: &Path, source: &str, strategy_type: &str) -> PathBuf {
    let hex = |h: Sha256, n: usize| -> String {
        h.finalize()
            .iter()
            .take(n)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut abi = Sha256::new();
    abi.update(SDK_SOURCE.as_bytes());
    abi.update([0]);
    abi.update(GLUE_TEMPLATE.as_bytes());
    abi.update([0]);
    abi.update(COMMON_FLAGS.join(" ").as_bytes());
    let mut h = Sha256::new();
    h.update(strategy_type.as_bytes());
    h.update([0]);
    h.update(source.as_bytes());
    cache_dir
        .join(format!("modules-{}", hex(abi, 8)))
        .join(format!("{}.wasm", hex(h, 16)))
}

/// The module of `source` if it was compiled before: read without finding rustc or the jail,
/// so a second backtest of a file starts at once.
pub fn cached_module(cache_dir: &Path, source: &str, strategy_type: &str) -> Option<Vec<u8>> {
    std::fs::read(module_path(cache_dir, source, strategy_type)).ok()
}

impl Compiler {
    /// A compiler caching the SDK under `cache_dir`, jailed when this machine has a jail
    /// ([`Jail::detect`]).
    pub fn new(
        toolchain: Toolchain,
        cache_dir: impl Into<PathBuf>,
        limits: CompileLimits,
    ) -> Compiler {
        let jail = Jail::detect(&toolchain);
        Compiler::with_jail(toolchain, jail, cache_dir, limits)
    }

    /// A compiler with the jail given (tests and benchmarks compare with and without).
    pub fn with_jail(
        toolchain: Toolchain,
        jail: Jail,
        cache_dir: impl Into<PathBuf>,
        limits: CompileLimits,
    ) -> Compiler {
        Compiler {
            toolchain,
            jail,
            cache_dir: cache_dir.into(),
            limits,
        }
    }

    /// Where modules and the SDK are cached.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The jail rustc runs in.
    pub fn jail(&self) -> &Jail {
        &self.jail
    }

    /// Whether code by `author` may be compiled here: always in a jail; without one, only our
    /// templates, unless `VALIDATOR_ALLOW_UNJAILED=1`.
    ///
    /// # Errors
    /// [`CompileError::NoJail`], naming what is missing.
    pub fn admit(&self, author: Author) -> Result<(), CompileError> {
        match &self.jail {
            Jail::Missing(why) if author == Author::Untrusted && !self.limits.allow_unjailed => {
                Err(CompileError::NoJail(why.clone()))
            }
            _ => Ok(()),
        }
    }

    /// The key of the SDK cache: rustc version, SDK source and flags.
    pub fn sdk_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.toolchain.version.as_bytes());
        h.update(SDK_SOURCE.as_bytes());
        h.update(COMMON_FLAGS.join(" ").as_bytes());
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The SDK rlib, built on first use and cached.
    ///
    /// # Errors
    /// A file error, or [`CompileError::Internal`] if the SDK does not compile.
    pub fn sdk_rlib(&self) -> Result<PathBuf, CompileError> {
        blocking(self.sdk_rlib_async())
    }

    /// [`Compiler::sdk_rlib`], awaiting rustc.
    ///
    /// # Errors
    /// As [`Compiler::sdk_rlib`].
    pub async fn sdk_rlib_async(&self) -> Result<PathBuf, CompileError> {
        let dir = self.cache_dir.join(format!("sdk-{}", self.sdk_key()));
        let rlib = dir.join("libstratagem_sdk.rlib");
        if rlib.is_file() {
            return Ok(rlib);
        }
        std::fs::create_dir_all(&self.cache_dir).map_err(io("cannot create", &self.cache_dir))?;
        let work = tempdir_in(&self.cache_dir)?;
        let src = work.join("stratagem_sdk.rs");
        std::fs::write(&src, SDK_SOURCE).map_err(io("cannot write", &src))?;
        let out = work.join("libstratagem_sdk.rlib");
        let deadline = Instant::now() + self.limits.timeout;
        let result = self
            .rustc(
                &work,
                None,
                deadline,
                &[
                    "--crate-type",
                    "rlib",
                    "--crate-name",
                    "stratagem_sdk",
                    "stratagem_sdk.rs",
                    "-o",
                    "libstratagem_sdk.rlib",
                ],
            )
            .await;
        if !matches!(result, Ok(ref r) if r.success) {
            return Err(result
                .err()
                .unwrap_or(CompileError::Internal("strategy SDK")));
        }
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        // Publish without ever replacing: a strategy compiled against the SDK must be linked
        // against that same file. The first builder wins; a concurrent one finds the file there
        // and uses it (builds are reproducible anyway, see `--remap-path-prefix`).
        // (The scratch folder goes when this returns, after the link.)
        match std::fs::hard_link(&out, &rlib) {
            Ok(()) => Ok(rlib),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(rlib),
            Err(source) => Err(CompileError::Io {
                action: "cannot publish",
                path: rlib,
                source,
            }),
        }
    }

    /// Compiles a strategy whose public strategy type is `strategy_type` into a wasm module.
    ///
    /// # Errors
    /// [`CompileError::Rejected`] with our summary of rustc's errors, a limit, or a file error.
    pub fn compile(&self, source: &str, strategy_type: &str) -> Result<Vec<u8>, CompileError> {
        blocking(self.compile_async(source, strategy_type))
    }

    /// [`Compiler::compile`], awaiting rustc (killed if this future is dropped).
    ///
    /// # Errors
    /// As [`Compiler::compile`].
    pub async fn compile_async(
        &self,
        source: &str,
        strategy_type: &str,
    ) -> Result<Vec<u8>, CompileError> {
        let valid_ident = !strategy_type.is_empty()
            && strategy_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !strategy_type.starts_with(|c: char| c.is_ascii_digit());
        if !valid_ident {
            return Err(CompileError::BadStrategyType(
                strategy_type.chars().take(64).collect(),
            ));
        }
        // Compiled before (validation compiles what the stages and the monitor run again): the
        // module is read back, keyed by SDK, glue, flags, type and source.
        let cached = self.module_path(source, strategy_type);
        if let Ok(wasm) = std::fs::read(&cached) {
            return Ok(wasm);
        }
        let sdk = self.sdk_rlib_async().await?;
        let sdk_arg = format!("stratagem_sdk={}", sdk.display());
        let sdk_dir = sdk.parent().map(Path::to_path_buf);
        // One budget for both rustc runs (the SDK, built once and cached, has its own).
        let deadline = Instant::now() + self.limits.timeout;
        let work = tempdir_in(&self.cache_dir)?;
        let result = async {
            let src = work.join("strategy.rs");
            std::fs::write(&src, source).map_err(io("cannot write", &src))?;
            let strategy = self
                .rustc(
                    &work,
                    sdk_dir.as_deref(),
                    deadline,
                    &[
                        "--crate-type",
                        "rlib",
                        "--crate-name",
                        "strategy",
                        "-F",
                        "unsafe_code",
                        "-F",
                        "long_running_const_eval",
                        "--extern",
                        &sdk_arg,
                        "strategy.rs",
                        "-o",
                        "libstrategy.rlib",
                    ],
                )
                .await?;
            if !strategy.success {
                return Err(CompileError::Rejected(strategy.diagnostics("strategy.rs")));
            }
            let glue = work.join("glue.rs");
            std::fs::write(
                &glue,
                GLUE_TEMPLATE.replace("__STRATEGY_TYPE__", strategy_type),
            )
            .map_err(io("cannot write", &glue))?;
            let linked = self
                .rustc(
                    &work,
                    sdk_dir.as_deref(),
                    deadline,
                    &[
                        "--crate-type",
                        "cdylib",
                        "--crate-name",
                        "stratagem_glue",
                        "-C",
                        "strip=debuginfo",
                        "-C",
                        "lto=fat",
                        "--extern",
                        &sdk_arg,
                        "--extern",
                        "strategy=libstrategy.rlib",
                        "glue.rs",
                        "-o",
                        "strategy.wasm",
                    ],
                )
                .await?;
            if !linked.success {
                // Only "no such type" or "not public" are the strategy's fault; anything else
                // (a crate mismatch with the SDK, say) is ours.
                let diags = linked.diagnostics("glue.rs");
                let strategy_fault = diags.iter().any(|d| {
                    matches!(
                        d.code.as_deref(),
                        Some(
                            "E0412"
                                | "E0422"
                                | "E0423"
                                | "E0425"
                                | "E0433"
                                | "E0603"
                                | "E0277"
                                | "E0599"
                        )
                    )
                });
                return Err(if strategy_fault {
                    CompileError::BadStrategyType(strategy_type.to_string())
                } else {
                    CompileError::Internal("strategy glue")
                });
            }
            let wasm = work.join("strategy.wasm");
            let bytes = std::fs::read(&wasm).map_err(io("cannot read", &wasm))?;
            // Published by rename, so a reader never sees half a module; a failure only costs
            // the next caller a compile.
            if let Some(dir) = cached.parent() {
                if std::fs::create_dir_all(dir).is_ok() {
                    let _ = std::fs::rename(&wasm, &cached);
                }
            }
            Ok(bytes)
        }
        .await;
        drop(work);
        result
    }

    /// Where the module of `source` is cached.
    fn module_path(&self, source: &str, strategy_type: &str) -> PathBuf {
        module_path(&self.cache_dir, source, strategy_type)
    }

    async fn rustc(
        &self,
        dir: &Path,
        sdk_dir: Option<&Path>,
        deadline: Instant,
        args: &[&str],
    ) -> Result<RustcRun, CompileError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CompileError::Timeout(self.limits.timeout));
        }
        let limits = format!(
            // Processes are `-u` in bash, `-p` in dash and busybox.
            "ulimit -v {} && ulimit -t {} && ulimit -f {} && {{ ulimit -u {n} 2>/dev/null || ulimit -p {n}; }} && exec \"$0\" \"$@\"",
            self.limits.address_space_bytes / 1024,
            self.limits.timeout.as_secs().max(1),
            // In 512-byte blocks.
            self.limits.file_size_bytes / 512,
            n = self.limits.processes,
        );
        // The scratch directory's name must not reach the output: with it remapped, the same
        // source gives the same rlib and wasm wherever it is built.
        let remap = format!("--remap-path-prefix={}=/stratagem", dir.display());
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(limits);
        match &self.jail {
            Jail::Bubblewrap(bwrap) => {
                command
                    .arg(bwrap)
                    .args(jail_args(&self.toolchain, dir, sdk_dir));
            }
            Jail::Missing(why) => {
                tracing::warn!("rustc runs without a jail: {why}");
            }
        }
        let mut child = command
            .arg(&self.toolchain.rustc)
            .args(COMMON_FLAGS)
            .arg(&remap)
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // A process group of its own: the shell, bubblewrap, the jail's init and rustc.
            .process_group(0)
            .spawn()
            .map_err(|e| CompileError::NoToolchain(format!("cannot start rustc: {e}")))?;
        // Until rustc has been waited for, a compile that ends (timed out, or dropped by its
        // caller) kills the whole group: killing bubblewrap alone, mid-setup, can leave the
        // jail's init behind before `--die-with-parent` is armed.
        let mut group = GroupKill(child.id());
        let stderr = child.stderr.take();
        let read = async move {
            let mut text = Vec::new();
            if let Some(mut s) = stderr {
                // Keep at most 256 KiB; drain the rest so rustc never blocks on a full pipe.
                let _ = (&mut s).take(256 * 1024).read_to_end(&mut text).await;
                let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
            }
            String::from_utf8_lossy(&text).into_owned()
        };
        let run = async { tokio::join!(child.wait(), read) };
        let (status, stderr) = match tokio::time::timeout(left, run).await {
            Ok((Ok(status), stderr)) => {
                group.0 = None;
                (status, stderr)
            }
            Ok((Err(e), _)) => {
                return Err(CompileError::NoToolchain(format!(
                    "cannot wait for rustc: {e}"
                )))
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(CompileError::Timeout(self.limits.timeout));
            }
        };
        // The address-space limit shows as a failure to load rustc's libraries, or as an
        // allocation failure mid-compile (an abort): the limit's doing, not the strategy's.
        const MEMORY_SIGNS: [&str; 4] = [
            "memory allocation of",
            "out of memory",
            "failed to map segment",
            "Cannot allocate memory",
        ];
        // In the jail, a signal shows as bubblewrap's exit code 128 + the signal.
        let signalled = status
            .code()
            .is_none_or(|c| self.jail.is_jailed() && c > 128);
        if signalled || MEMORY_SIGNS.iter().any(|sign| stderr.contains(sign)) {
            return Err(CompileError::Killed);
        }
        Ok(RustcRun {
            success: status.success(),
            stderr,
        })
    }
}

/// Kills a process group when dropped, unless disarmed (`None`).
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = std::process::Command::new("/bin/sh")
                .args(["-c", "kill -KILL -\"$0\" 2>/dev/null", &pgid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs rustc work to completion from synchronous code: on a runtime of its own, on a thread of
/// its own, so it works from any context (a runtime's worker thread included).
fn blocking<T: Send>(
    work: impl Future<Output = Result<T, CompileError>> + Send,
) -> Result<T, CompileError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .map_err(|e| {
                        CompileError::NoToolchain(format!("cannot start a runtime for rustc: {e}"))
                    })?
                    .block_on(work)
            })
            .join()
            .unwrap_or(Err(CompileError::Internal("rustc runner")))
    })
}

struct RustcRun {
    success: bool,
    stderr: String,
}

impl RustcRun {
    /// Error codes and lines of `file`, from rustc's short format
    /// (`file:LINE:COL: error[CODE]: …`). Nothing else of the text is kept.
    fn diagnostics(&self, file: &str) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for line in self.stderr.lines() {
            let Some(rest) = line.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
                continue;
            };
            let mut parts = rest.splitn(3, ':');
            let line_no = parts.next().and_then(|l| l.parse::<u32>().ok());
            let _col = parts.next();
            let Some(kind) = parts.next().map(str::trim_start) else {
                continue;
            };
            if !kind.starts_with("error") {
                continue;
            }
            let code = kind
                .strip_prefix("error[")
                .and_then(|r| r.split(']').next())
                .filter(|c| c.len() <= 8 && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
                .map(String::from);
            let message = kind
                .split_once(": ")
                .map(|(_, m)| without_paths(m))
                .filter(|m| !m.is_empty());
            out.push(Diagnostic {
                code,
                line: line_no,
                message,
            });
        }
        if out.is_empty() {
            out.push(Diagnostic {
                code: None,
                line: None,
                message: None,
            });
        }
        out.dedup();
        out
    }
}

/// A compile's scratch folder, removed when dropped — also when the compile is.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir_in(parent: &Path) -> Result<Scratch, CompileError> {
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let dir = parent.join(format!("work-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir(&dir).map_err(io("cannot create", &dir))?;
    Ok(Scratch(dir))
}
