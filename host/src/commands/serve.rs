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
        shard: args.shard,
        retry_errors: args.retry_errors.0,
        ui: args.ui,
    })
    .await?;
    Ok(ExitStatus::Pass)
}

/// Runs `modelgate webhook create`.
pub async fn create_webhook(args: WebhookCreateArgs) -> anyhow::Result<ExitStatus> {
    let (secret, rest) = webhook_server(&args)?;
    let failed = |what: &'static str| {
        move |e: crate::registry::RegistryError| {
            let hint = e.hint();
            with_hint(anyhow::anyhow!("failed to {what}: {e}"), hint)
        }
    };
    // An active webhook delivering the same events to the same URL is
    // reused (its secret set to this one), not created twice.
    let id = match rest
        .find_webhook(&args.url)
        .await
        .map_err(failed("list the webhooks"))?
    {
        Some((id, all)) => {
            rest.update_webhook(&id, &secret, !all)
                .await
                .map_err(failed("update the webhook"))?;
            let events = if all {
                "it delivers the same events there"
            } else {
                "it now delivers model_version_tag.deleted there too"
            };
            crate::output::stdout(&format!(
                "reused webhook {id} → {} ({events}; its secret is now MODELGATE_WEBHOOK_SECRET)\n",
                args.url
            ))?;
            id
        }
        None => {
            let id = rest
                .create_webhook(&args.name, &args.url, &secret)
                .await
                .map_err(failed("create the webhook"))?;
            crate::output::stdout(&format!(
                "created webhook {id} `{}` → {} (model_version.created, model_version_tag.set, model_version_tag.deleted)\n",
                args.name, args.url
            ))?;
            id
        }
    };
    if args.no_test {
        return Ok(ExitStatus::Pass);
    }
    // MLflow's own test delivery, through the same path as every event: its
    // signature, its network policy, `serve` at the URL.
    test_delivery(&rest, &id, &args.url).await
}

/// `MODELGATE_WEBHOOK_SECRET` and the tracking server webhooks are made on
/// (`--tracking-uri` or `MLFLOW_TRACKING_URI`: a server, not `mlflow.db`).
fn webhook_server(
    args: &WebhookCreateArgs,
) -> anyhow::Result<(String, crate::registry::rest::RestRegistry)> {
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
    let text = args.tracking_uri.clone().or(env_uri).ok_or_else(|| {
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
    Ok((secret, rest))
}

/// Has MLflow send webhook `id` its test delivery; a pass when `url`
/// answered 2xx, else an error saying what to set.
async fn test_delivery(
    rest: &crate::registry::rest::RestRegistry,
    id: &str,
    url: &str,
) -> anyhow::Result<ExitStatus> {
    let failed = |what: &'static str| {
        move |e: crate::registry::RegistryError| {
            let hint = e.hint();
            with_hint(anyhow::anyhow!("failed to {what}: {e}"), hint)
        }
    };
    let test = rest
        .test_webhook(id)
        .await
        .map_err(failed("ask MLflow for a test delivery"))?;
    if test.success {
        crate::output::stdout(&format!(
            "test delivery: {} answered {}\n",
            url,
            test.status.unwrap_or(200)
        ))?;
        return Ok(ExitStatus::Pass);
    }
    let what = match (&test.status, &test.error) {
        (Some(status), _) => format!("{} answered {status}", url),
        (None, Some(e)) => format!("MLflow could not deliver: {e}"),
        (None, None) => "MLflow reported no answer".to_string(),
    };
    Err(with_hint(
        anyhow::anyhow!("webhook {id} is in place, but MLflow's test delivery failed: {what}"),
        "start `modelgate serve` (with this MODELGATE_WEBHOOK_SECRET) where that URL reaches it, then run this again or pass --no-test; \
         start the MLflow server with MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY set (with several workers each otherwise encrypts secrets with a key of its own: `fernet.InvalidToken` in its log), \
         MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true for a private or loopback address and MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https for plain http; \
         MLflow caches webhooks for MLFLOW_WEBHOOK_CACHE_TTL (60 s) before events reach a new one",
    ))
}
