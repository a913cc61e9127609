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

/// The result of a workflow.
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;
