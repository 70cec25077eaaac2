//! A well-behaved gate: passes, reports what it was given, and exercises
//! every registry call and the log, so host tests can check the plumbing.
//! Config `{"fail": true}` makes it fail; `{"reject": "msg"}` makes
//! `check-config` reject the config.
use modelgate_plugin::prelude::*;

struct Echo;

impl Gate for Echo {
    fn check_config(config: &Config) -> Result<(), String> {
        match config.get::<String>("reject")? {
            Some(msg) => Err(msg),
            None => Ok(()),
        }
    }

    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        log::info(format!(
            "judging {} v{}",
            candidate.name(),
            candidate.number()
        ));
        println!("stdout from echo");
        eprintln!("stderr from echo");
        let versions = registry::model_versions(candidate.name())?;
        let mut checks = vec![
            Check::new("versions", true).observed(versions.len()),
            Check::new("selected_by", true).observed(&candidate.selected_by),
        ];
        if let Some(run) = &candidate.run {
            let again = registry::run(&run.run_id)?;
            // Compare as text: a NaN metric is not == itself.
            let same = format!("{again:?}") == format!("{run:?}");
            checks.push(Check::new("run", same).observed(&run.run_id));
            for m in &run.metrics {
                let history = registry::metric_history(&run.run_id, &m.key)?;
                checks.push(
                    Check::new(format!("metric:{}", m.key), !history.is_empty())
                        .observed(modelgate_plugin::fmt_value(m.value))
                        .detail(format!("{} points", history.len())),
                );
            }
        }
        if let Some(id) = candidate.model_id() {
            let again = registry::logged_model(id)?;
            let handed = candidate.logged_model.as_ref();
            let same = format!("{:?}", Some(&again)) == format!("{handed:?}");
            checks.push(
                Check::new("logged_model", same)
                    .observed(id)
                    .detail(format!("{} metric values", again.metrics.len())),
            );
        }
        match registry::logged_model("m-00000000000000000000000000000000") {
            Err(RegistryError::NotFound(_)) => checks.push(Check::new("model_not_found", true)),
            other => checks.push(
                Check::new("model_not_found", false)
                    .detail(format!("{:?}", other.map(|m| m.model_id))),
            ),
        }
        let by_number = registry::model_version(candidate.name(), candidate.number())?;
        checks.push(Check::new("by_number", by_number == candidate.version));
        if let Some(alias) = candidate.selected_by.strip_prefix("alias:") {
            let by_alias = registry::model_version_by_alias(candidate.name(), alias)?;
            checks.push(Check::new("by_alias", by_alias == candidate.version));
        }
        match registry::model_version(candidate.name(), 999_999) {
            Err(RegistryError::NotFound(_)) => checks.push(Check::new("not_found", true)),
            other => checks.push(Check::new("not_found", false).detail(format!("{other:?}"))),
        }
        if config.get::<bool>("fail")?.unwrap_or(false) {
            checks.push(Check::new("configured_to_fail", false));
        }
        Ok(Verdict::from_checks(checks))
    }
}

export_gate!(Echo);
