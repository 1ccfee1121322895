//! The crate's one error type, [`Error`], and [`Result`].
//!
//! Every message names the numbers or values at fault, so that a log line is
//! enough to see what went wrong.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two inputs, or an input and an output, differ in length.
    #[error("{op}: lengths differ: {left_name} has {left} elements, {right_name} has {right}")]
    LengthMismatch {
        /// The call that failed, for example `"map2"`.
        op: &'static str,
        /// What the first length belongs to, for example `"a"`.
        left_name: &'static str,
        /// The first length.
        left: usize,
        /// What the second length belongs to, for example `"b"`.
        right_name: &'static str,
        /// The second length.
        right: usize,
    },

    /// A backend name (for example from `GPU_BACKEND`) is not one of the valid ones.
    #[error("unknown backend {value:?}{source_note}: valid values are auto, gpu, cpu, scalar")]
    UnknownBackend {
        /// The text that was given.
        value: String,
        /// Where it came from, for example `" (from GPU_BACKEND)"`.
        source_note: &'static str,
    },

    /// The GPU backend was requested but no usable adapter was found.
    #[error("no usable GPU adapter: {tried}")]
    NoAdapter {
        /// What was tried and why each candidate was rejected.
        tried: String,
    },

    /// The adapter was found but the device could not be created.
    #[error("could not create a device on adapter {adapter:?}: {reason}")]
    DeviceCreation {
        /// The adapter's name and backend.
        adapter: String,
        /// The driver's reason.
        reason: String,
    },

    /// The GPU reported an error while compiling or running a kernel.
    #[error("GPU error in {what}: {reason}")]
    Gpu {
        /// What was being done, for example `"compiling kernel x0 * 2 + 1"`.
        what: String,
        /// The driver's or validator's message.
        reason: String,
    },

    /// An `Expr` was used outside the trace it belongs to.
    #[error("invalid kernel closure: {detail}")]
    ForeignExpr {
        /// What was misused.
        detail: String,
    },

    /// A reduction with no neutral element (`min`, `max`, `mean`) was asked
    /// of an empty input.
    #[error("{op} of an empty input is undefined (0 elements)")]
    EmptyInput {
        /// The reduction, for example `"min"`.
        op: &'static str,
    },

    /// An image file could not be read, decoded, encoded or written.
    #[error("{path}: {reason}")]
    Image {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },

    /// A file or stream could not be read, parsed or written.
    #[error("{path}: {reason}")]
    File {
        /// The file (or the name given to a stream).
        path: String,
        /// What went wrong.
        reason: String,
    },

    /// A filter's text form or parameters are invalid.
    #[error("invalid filter {spec:?}: {reason}")]
    InvalidFilter {
        /// The filter as given (its first 60 characters, and its length, when
        /// longer).
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Two arrays live on different backends.
    #[error("{op}: the arrays live on different backends: {left} and {right} (copy one with to_vec and Context::array)")]
    BackendMismatch {
        /// The call that failed.
        op: &'static str,
        /// The first array's backend.
        left: crate::Backend,
        /// The second array's backend.
        right: crate::Backend,
    },

    /// A kernel's arity does not match the number of inputs given.
    #[error("{op}: the kernel reads {expected} input(s) but {given} were given")]
    ArityMismatch {
        /// The call that failed.
        op: &'static str,
        /// Inputs the kernel reads.
        expected: usize,
        /// Inputs given.
        given: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
