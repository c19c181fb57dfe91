//! MIME plumbing for S/MIME: split a message into the header fields that
//! stay outside and the entity that gets signed or encrypted, make that
//! entity canonical (CRLF) and 7-bit safe so no MTA can change a signed
//! byte, and wrap results as `multipart/signed` or `application/pkcs7-mime`.
//!
//! One file per concern: `split` (header, fields, multipart bodies),
//! `canonical` (CRLF and 7-bit transport), `encoding` (quoted-printable and
//! base64) and `wrap` (the S/MIME wrappers). Everything is re-exported here.

mod canonical;
mod encoding;
mod split;
mod wrap;

pub use canonical::{MAX_NESTING, to_crlf};
pub(crate) use canonical::{crlf, crlf_owned};
pub(crate) use encoding::{BASE64_LENIENT, Base64Lines};
pub use encoding::{base64_lines, decode_base64_lines, push_base64_lines, quoted_printable};
pub(crate) use split::split_entity;
pub use split::{
    Field, Split, fields, is_content_field, split_header_body, split_message, split_multipart,
};
pub use wrap::{multipart_signed, pkcs7_mime, with_outer};
pub(crate) use wrap::{multipart_signed_around, outer_head, pkcs7_mime_header};
