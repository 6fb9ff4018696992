//! The id of the request being served on this task: set by the HTTP stack (`http`),
//! read where an answer quotes it (`error`'s 500 message). A leaf of its own, so the
//! error type need not depend on the stack that uses it.

tokio::task_local! {
    pub(crate) static REQUEST_ID: String;
}

/// The request id of the request being served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
