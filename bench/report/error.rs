//! Errors of the report stage.

use std::path::PathBuf;

/// An error rendering or writing a report.
///
/// A report is derived only from a record, so these are about templates and files, never
/// about the run itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The template directory given to override the built-in templates cannot be read.
    #[error("template directory {}: cannot be read", path.display())]
    TemplateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A template file in the override directory cannot be read.
    #[error("template {}: cannot be read", path.display())]
    ReadTemplate {
        /// The template file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A template does not parse, or refers to a template, filter or function that does not
    /// exist.
    #[error("template {name} is not a valid template")]
    Template {
        /// The template's name (`report.html`).
        name: String,
        /// The template engine's explanation.
        #[source]
        source: tera::Error,
    },
    /// A template failed while rendering (it refers to a value the report does not provide).
    #[error("template {name} failed to render")]
    Render {
        /// The template's name.
        name: String,
        /// The template engine's explanation.
        #[source]
        source: tera::Error,
    },
    /// The report file could not be written.
    #[error("report {}: cannot be written", path.display())]
    Write {
        /// The report file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
