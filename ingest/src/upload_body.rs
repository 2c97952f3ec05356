//! The body of an upload request, read one way by every upload route: a raw body is one file (its type is
//! sniffed from its bytes, its name comes from `X-Filename` or Content-Disposition), a multipart/form-data body
//! is its file fields in order (a field with a filename, or named `file`; other fields are skipped).

use axum::body::{Body, BodyDataStream};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::HeaderMap;
use futures::TryStreamExt;

use crate::error::ApiError;
use crate::upload::clean_filename;

/// An upload request's body.
pub enum UploadBody {
    /// One file, the whole body.
    Raw(RawFile),
    /// A form whose file fields are files.
    Form(FileFields),
}

/// A raw body and what its headers say of it.
pub struct RawFile {
    body: Body,
    /// The length Content-Length declares (checked against the bytes that arrive).
    pub declared_length: Option<u64>,
    /// The filename from `X-Filename` or Content-Disposition.
    pub filename: Option<String>,
}

/// A raw body's bytes, as the upload path reads them.
pub type BodyBytes = futures::stream::MapErr<BodyDataStream, fn(axum::Error) -> String>;

impl RawFile {
    /// The bytes as they arrive.
    pub fn into_stream(self) -> BodyBytes {
        self.body.into_data_stream().map_err(message as fn(axum::Error) -> String)
    }
}

fn message(e: axum::Error) -> String {
    e.to_string()
}

/// The file fields of a multipart body; read them with [`next_file!`](crate::upload_body::next_file).
pub struct FileFields(pub(crate) Multipart);

/// The next file field of [`FileFields`], skipping other fields: `Result<Option<Field>, ApiError>`. A macro,
/// because a function returning the field would hold the body's borrow across loop turns (the borrow
/// checker's "problem case 3").
macro_rules! next_file {
    ($fields:expr) => {
        loop {
            match $fields.0.next_field().await {
                Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => break Ok(Some(f)),
                Ok(Some(_)) => continue,
                Ok(None) => break Ok(None),
                Err(e) => break Err($crate::upload_body::bad_multipart(e)),
            }
        }
    };
}
pub(crate) use next_file;

impl FileFields {
    /// Reads every file field to its end and returns each one's size: what an upload route does with a form,
    /// without storing it. The fuzz target and the regression tests drive the form reading through this.
    pub async fn drain(mut self) -> Result<Vec<u64>, ApiError> {
        let mut sizes = Vec::new();
        while let Some(mut field) = next_file!(self)? {
            let mut n = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
                n += chunk.len() as u64;
            }
            sizes.push(n);
        }
        Ok(sizes)
    }
}

/// A multipart body that could not be read: 400 `bad_multipart`.
pub(crate) fn bad_multipart(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad_multipart", format!("multipart body: {e}"))
}

impl<S: Send + Sync> FromRequest<S> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, st: &S) -> Result<UploadBody, ApiError> {
        if is_multipart(req.headers()) {
            let mp = Multipart::from_request(req, st).await.map_err(bad_multipart)?;
            return Ok(UploadBody::Form(FileFields(mp)));
        }
        let declared_length = declared_length(req.headers());
        let filename = filename_from_headers(req.headers());
        Ok(UploadBody::Raw(RawFile { body: req.into_body(), declared_length, filename }))
    }
}

/// The body length a request declares in Content-Length, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// Whether a request body is multipart/form-data.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// The filename a raw upload names in `X-Filename` or Content-Disposition.
pub fn filename_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(f) = headers.get("x-filename").and_then(|v| v.to_str().ok()) {
        return clean_filename(f);
    }
    let cd = headers.get("content-disposition")?.to_str().ok()?;
    let f = cd.split(';').map(str::trim).find_map(|p| p.strip_prefix("filename="))?;
    clean_filename(f.trim_matches('"'))
}
