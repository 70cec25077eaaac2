//! `modelgate serve` and `modelgate webhook create`.

use crate::cli::{LogFormat, ServeArgs, WebhookCreateArgs};
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::registry::uri::TrackingUri;

/// Runs `modelgate serve` until it is stopped.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitStatus> {
    crate::serve::serve(crate::serve::Options {
        projects: args.projects,
        listen: args.listen,
        poll: args.poll.0,
        promote: args.promote,
        jobs: args.jobs as usize,
        tracking_uri: args.tracking_uri,
        timeout: args.timeout,
        log_json: args.log_format == LogFormat::Json,
        drain: args.drain,
    })
    .await?;
    Ok(ExitStatus::Pass)
}

/// Runs `modelgate webhook create`.
pub async fn create_webhook(args: WebhookCreateArgs) -> anyhow::Result<ExitStatus> {
    let secret = std::env::var("MODELGATE_WEBHOOK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            with_hint(
                anyhow::anyhow!("MODELGATE_WEBHOOK_SECRET is not set"),
                "export the secret `modelgate serve` will verify deliveries with (e.g. `openssl rand -hex 32`)",
            )
        })?;
    let env_uri = std::env::var("MLFLOW_TRACKING_URI").ok();
    let text = args.tracking_uri.or(env_uri).ok_or_else(|| {
        with_hint(
            anyhow::anyhow!("no tracking server given"),
            "pass `--tracking-uri http://HOST:PORT` or set MLFLOW_TRACKING_URI",
        )
    })?;
    let uri = crate::registry::uri::parse(&text)?;
    let TrackingUri::Http(base) = &uri else {
        return Err(with_hint(
            anyhow::anyhow!("webhooks need an MLflow tracking server, not `{text}`"),
            "the embedded `mlflow.db` has no webhooks: run `modelgate serve` with `--poll` instead",
        ));
    };
    let rest = crate::registry::rest::RestRegistry::new(base)?;
    let id = rest
        .create_webhook(&args.name, &args.url, &secret)
        .await
        .map_err(|e| {
            let hint = e.hint();
            with_hint(anyhow::anyhow!("failed to create the webhook: {e}"), hint)
        })?;
    crate::output::stdout(&format!(
        "created webhook {id} `{}` → {} (model_version.created, model_version_tag.set)\n",
        args.name, args.url
    ))?;
    Ok(ExitStatus::Pass)
}
