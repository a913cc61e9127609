//! The error of a recorded workflow: typed by where it came from, with the context it was met
//! in, in words.

use stratagem_events::StoreError;

use crate::generator::llm::LlmError;
use crate::generator::model::ModelError;
use crate::generator::templates::RenderError;
use crate::setting::SettingError;
use crate::stages::feed::FeedError;
use crate::stages::runner::StageError;
use crate::supervisor::HostError;
use crate::validator::sandbox::compile::CompileError;
use crate::validator::sandbox::runtime::SandboxError;

use super::review::Refused;

/// Why a workflow could not be carried out. Nothing it had recorded before is lost: every
/// workflow records its start before it acts (write-ahead) and resumes from the log.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The event log or the projections.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event that cannot be decoded.
    #[error(transparent)]
    Decode(#[from] stratagem_events::DecodeError),
    /// A setting that cannot be used, named.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// rustc, or the toolchain.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The wasm sandbox.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A stage's window or run.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// A live market feed.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// A template.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The model path.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model server's client.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// An HTTP client that cannot be built.
    #[error("cannot build an HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A supervised run of actors.
    #[error(transparent)]
    Cycle(#[from] crate::supervisor::CycleError),
    /// An actor's report.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A person's decision that cannot be recorded, whatever happens to the log.
    #[error(transparent)]
    Review(#[from] Refused),
    /// A file of ours.
    #[error("{what}: {error}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The system's error.
        error: std::io::Error,
    },
    /// A request the log's state refuses (a strategy that is not ready, an unknown id, …).
    #[error("{0}")]
    Refused(String),
    /// A request the configuration cannot serve (a mode that needs a setting not set).
    #[error("{0}")]
    Usage(String),
    /// Something the request needs is not available now (a budget spent, …).
    #[error("{0}")]
    Unavailable(String),
    /// Another error, with what was being done when it was met.
    #[error("{context}: {inner}")]
    Context {
        /// What was being done.
        context: String,
        /// The error met.
        inner: Box<WorkflowError>,
    },
}

impl WorkflowError {
    /// A request refused, in words.
    pub fn refused(why: impl Into<String>) -> WorkflowError {
        WorkflowError::Refused(why.into())
    }

    /// An I/O error, with what was being done.
    pub fn io(what: impl Into<String>, error: std::io::Error) -> WorkflowError {
        WorkflowError::Io {
            what: what.into(),
            error,
        }
    }

    /// The error under any context.
    pub fn root(&self) -> &WorkflowError {
        match self {
            WorkflowError::Context { inner, .. } => inner.root(),
            other => other,
        }
    }

    /// Whether the data directory is held by another holder (another process, or another part
    /// of this one).
    pub fn is_locked(&self) -> bool {
        matches!(self.root(), WorkflowError::Store(StoreError::Locked { .. }))
    }

    /// Whether the data directory cannot be written (a read-only mount, no permission): a
    /// read can then look at a copy of the log ([`super::data_dir::DataDir::open_read_only`]).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.root(),
            WorkflowError::Store(StoreError::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                )
        )
    }
}

/// Context for a result, as the binary's `anyhow::Context` gives it.
pub trait Context<T> {
    /// The error, with what was being done.
    fn context(self, what: impl Into<String>) -> Result<T, WorkflowError>;
    /// The error, with what was being done (computed only on error).
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, WorkflowError>;
}

impl<T, E: Into<WorkflowError>> Context<T> for Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T, WorkflowError> {
        self.map_err(|e| WorkflowError::Context {
            context: what.into(),
            inner: Box::new(e.into()),
        })
    }

    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, WorkflowError> {
        self.map_err(|e| WorkflowError::Context {
            context: what().into(),
            inner: Box::new(e.into()),
        })
    }
}

/// Returns early with [`WorkflowError::Refused`], formatted.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err($crate::workflow::WorkflowError::Refused(format!($($arg)*)))
    };
}
pub(crate) use refuse;

/// Returns a usage error (an argument that is not one of the accepted values, …).
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::workflow::WorkflowError::Usage(format!($($arg)*)))
    };
}
pub(crate) use usage;

/// The result of a workflow.
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;

/// What kind of failure an error is, for the process's exit code (the BSD `sysexits`
/// numbers the README's convention uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 64: the command was asked wrongly (an argument or a setting).
    Usage,
    /// 65: the input data is bad (a damaged log, an unreadable file's content, a request the
    /// log's state refuses).
    BadData,
    /// 66: an input that does not exist (a file, a data directory).
    Missing,
    /// 69: something needed is unavailable (the directory in use, the network, a toolchain).
    Unavailable,
    /// 70: a fault of ours.
    Internal,
    /// 74: reading or writing failed.
    Io,
}

impl Failure {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Failure::Usage => 64,
            Failure::BadData => 65,
            Failure::Missing => 66,
            Failure::Unavailable => 69,
            Failure::Internal => 70,
            Failure::Io => 74,
        }
    }

    /// Its name in the JSON envelope's `error.code`.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Usage => "usage",
            Failure::BadData => "bad_data",
            Failure::Missing => "missing",
            Failure::Unavailable => "unavailable",
            Failure::Internal => "internal",
            Failure::Io => "io",
        }
    }

    /// An I/O error by its kind.
    pub fn of_io(e: &std::io::Error) -> Failure {
        match e.kind() {
            std::io::ErrorKind::NotFound => Failure::Missing,
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => Failure::BadData,
            _ => Failure::Io,
        }
    }

    /// A store's error.
    pub fn of_store(e: &StoreError) -> Failure {
        match e {
            StoreError::Locked { .. } | StoreError::Conflict { .. } => Failure::Unavailable,
            StoreError::Truncated { .. } | StoreError::Corrupt { .. } | StoreError::Open { .. } => {
                Failure::BadData
            }
            StoreError::Io { source, .. } => Failure::of_io(source),
            StoreError::Backend { .. } => Failure::Io,
            StoreError::EmptyBatch | StoreError::Encode(_) => Failure::Internal,
        }
    }
}

impl WorkflowError {
    /// What kind of failure this is (typed by origin, not by its words).
    pub fn failure(&self) -> Failure {
        use crate::validator::sandbox::compile::CompileError as C;
        match self.root() {
            WorkflowError::Store(e) => Failure::of_store(e),
            WorkflowError::Decode(_) => Failure::BadData,
            WorkflowError::Setting(_) => Failure::Usage,
            WorkflowError::Compile(C::MissingTarget | C::NoToolchain(_) | C::NoJail(_)) => {
                Failure::Unavailable
            }
            WorkflowError::Compile(C::Io { .. }) => Failure::Io,
            WorkflowError::Compile(_) => Failure::BadData,
            WorkflowError::Sandbox(SandboxError::Setup(_)) => Failure::Internal,
            WorkflowError::Sandbox(_) => Failure::BadData,
            WorkflowError::Stage(StageError::Feed(_)) | WorkflowError::Feed(_) => {
                Failure::Unavailable
            }
            WorkflowError::Stage(_) => Failure::BadData,
            WorkflowError::Render(_) => Failure::Internal,
            WorkflowError::Model(ModelError::Llm(_)) | WorkflowError::Llm(_) => {
                Failure::Unavailable
            }
            WorkflowError::Model(ModelError::Validator(
                C::MissingTarget | C::NoToolchain(_) | C::NoJail(_),
            )) => Failure::Unavailable,
            WorkflowError::Model(ModelError::Validator(C::Io { .. })) => Failure::Io,
            WorkflowError::Model(ModelError::Record(_)) => Failure::Internal,
            WorkflowError::Model(_) => Failure::BadData,
            WorkflowError::Http(_) | WorkflowError::Host(_) => Failure::Internal,
            WorkflowError::Cycle(_) => Failure::Internal,
            WorkflowError::Review(_) | WorkflowError::Refused(_) => Failure::BadData,
            WorkflowError::Usage(_) => Failure::Usage,
            WorkflowError::Unavailable(_) => Failure::Unavailable,
            WorkflowError::Io { error, .. } => Failure::of_io(error),
            WorkflowError::Context { .. } => Failure::Internal,
        }
    }
}
