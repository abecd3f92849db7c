//! Rendering a [`crate::Report`]: for a terminal ([`text`]) and as a self-contained
//! HTML page ([`html`]). The JSON form is [`crate::Report::to_json_bytes`].

pub mod html;
pub mod text;
