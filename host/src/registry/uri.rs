//! Finding the tracking URI the way MLflow does, and classifying it.
//!
//! Order: `--tracking-uri`, then `MLFLOW_TRACKING_URI`, then `mlflow.db` in
//! the project directory (MLflow 3's default local store), else an error.

use std::path::{Path, PathBuf};

use crate::error::with_hint;

/// A tracking URI modelgate can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingUri {
    /// A tracking server: `http://…` or `https://…` (no trailing slash).
    Http(String),
    /// MLflow's SQLite store.
    Sqlite {
        /// The URI to hand to child processes: always the absolute form
        /// `sqlite:////abs/path`, so a gate run elsewhere sees the same file.
        uri: String,
        /// The database file.
        path: PathBuf,
    },
}

impl TrackingUri {
    /// The URI as text.
    pub fn as_str(&self) -> &str {
        match self {
            TrackingUri::Http(u) => u,
            TrackingUri::Sqlite { uri, .. } => uri,
        }
    }
}

/// Where the URI came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--tracking-uri`.
    Flag,
    /// `MLFLOW_TRACKING_URI`.
    Env,
    /// `mlflow.db` found in the project directory.
    ProjectDb,
}

/// Resolves the tracking URI from the flag, the environment and the project
/// directory, relative paths being taken from the current directory as
/// SQLAlchemy does.
pub fn resolve(
    flag: Option<&str>,
    env: Option<&str>,
    project_dir: &Path,
) -> anyhow::Result<(TrackingUri, Origin)> {
    let (text, origin) = match (flag, env) {
        (Some(f), _) if !f.trim().is_empty() => (f.trim().to_string(), Origin::Flag),
        (_, Some(e)) if !e.trim().is_empty() => (e.trim().to_string(), Origin::Env),
        _ => {
            let db = project_dir.join("mlflow.db");
            if db.is_file() {
                let abs = std::path::absolute(&db).unwrap_or(db);
                return Ok((
                    TrackingUri::Sqlite {
                        uri: format!("sqlite:///{}", abs.display()),
                        path: abs,
                    },
                    Origin::ProjectDb,
                ));
            }
            return Err(with_hint(
                anyhow::anyhow!(
                    "no tracking URI: neither --tracking-uri nor MLFLOW_TRACKING_URI is set, and `{}` has no `mlflow.db`",
                    project_dir.display()
                ),
                "set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000) or pass --tracking-uri",
            ));
        }
    };
    Ok((parse(&text)?, origin))
}

/// Classifies a tracking URI.
pub fn parse(text: &str) -> anyhow::Result<TrackingUri> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let authority = text
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .unwrap_or("");
        // Credentials in the URI would be printed with it (reports, errors,
        // the tags of recorded verdicts): refuse them, and do not echo them.
        if authority.contains('@') {
            return Err(with_hint(
                anyhow::anyhow!(
                    "the tracking URI carries credentials (`user:password@` before the host)"
                ),
                "remove them from the URI and set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) instead",
            ));
        }
        return Ok(TrackingUri::Http(text.trim_end_matches('/').to_string()));
    }
    if let Some(rest) = text.strip_prefix("sqlite://") {
        // SQLAlchemy: `sqlite:///rel.db` is relative, `sqlite:////abs.db` absolute.
        let path = rest.strip_prefix('/').unwrap_or("");
        let path = path.split('?').next().unwrap_or("");
        if path.is_empty() || path == ":memory:" {
            return Err(with_hint(
                anyhow::anyhow!("tracking URI `{text}` names no database file"),
                "write `sqlite:///mlflow.db` (relative) or `sqlite:////abs/path/mlflow.db`",
            ));
        }
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(with_hint(
                anyhow::anyhow!("tracking URI `{text}`: `{}` does not exist", path.display()),
                "point at an existing MLflow database, or run the training once to create it",
            ));
        }
        let abs = std::path::absolute(&path).unwrap_or(path);
        return Ok(TrackingUri::Sqlite {
            uri: format!("sqlite:///{}", abs.display()),
            path: abs,
        });
    }
    let scheme = text.split_once("://").map(|(s, _)| s).unwrap_or("");
    let what = if scheme.is_empty() {
        "a local `mlruns/` file store".to_string()
    } else {
        format!("scheme `{scheme}`")
    };
    Err(with_hint(
        anyhow::anyhow!("tracking URI `{text}` is not supported ({what})"),
        "use an MLflow tracking server (`http://…`, `https://…`) or an MLflow database (`sqlite:///mlflow.db`)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_uri_are_refused_unechoed() {
        let err = parse("https://me:s3cret@mlflow.example/prefix").expect_err("refused");
        let text = crate::error::render(&err);
        assert!(text.contains("carries credentials"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(parse("http://127.0.0.1:5000/path?x=a@b").is_ok());
    }

    #[test]
    fn flag_beats_env_beats_project_db() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (u, o) = resolve(Some("http://a:1/"), Some("http://b:2"), dir.path()).expect("ok");
        assert_eq!(
            (u, o),
            (TrackingUri::Http("http://a:1".into()), Origin::Flag)
        );
        let (u, o) = resolve(None, Some("http://b:2"), dir.path()).expect("ok");
        assert_eq!(
            (u, o),
            (TrackingUri::Http("http://b:2".into()), Origin::Env)
        );
        let err = resolve(None, None, dir.path()).expect_err("no uri");
        assert!(crate::error::render(&err).contains("hint: set MLFLOW_TRACKING_URI"));
        std::fs::write(dir.path().join("mlflow.db"), b"").expect("write");
        let (u, o) = resolve(None, Some(""), dir.path()).expect("ok");
        assert_eq!(o, Origin::ProjectDb);
        assert!(u.as_str().starts_with("sqlite:////"), "{}", u.as_str());
    }

    #[test]
    fn unsupported_schemes_are_named() {
        for uri in ["file:///tmp/mlruns", "databricks://x", "./mlruns"] {
            let err = parse(uri).expect_err("unsupported");
            assert!(err.to_string().contains("not supported"), "{err}");
        }
        assert!(parse("sqlite://").is_err());
        assert!(parse("sqlite:////definitely/not/here.db").is_err());
    }
}
