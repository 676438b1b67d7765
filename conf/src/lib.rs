//! swanctl.conf-style configuration: parser and typed, validated model.
#![forbid(unsafe_code)]
