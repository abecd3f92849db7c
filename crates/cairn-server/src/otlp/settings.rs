//! Which span and resource attributes OTLP ingest reads for a decision's
//! stream, subject, session and model version: the `[otlp]` table of the
//! configuration file, the `--otlp-*` flags and the `CAIRND_OTLP_*` variables.

use serde::Deserialize;

use crate::config::ConfigError;

/// Attributes naming the subject when nothing else is configured.
pub const DEFAULT_SUBJECT_ATTRIBUTES: &str = "enduser.id,user.id";
/// Attributes naming the session when nothing else is configured.
pub const DEFAULT_SESSION_ATTRIBUTES: &str = "session.id,gen_ai.conversation.id";

/// One source of OTLP settings: every field optional (see `Settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct OtlpSettings {
    /// Span or resource attribute whose value is the decision's stream
    /// [default: the resource's `service.name`].
    #[arg(
        long = "otlp-stream-attribute",
        env = "CAIRND_OTLP_STREAM_ATTRIBUTE",
        value_name = "ATTR",
        help_heading = "OTLP ingest"
    )]
    pub stream_attribute: Option<String>,
    /// Span or resource attributes, comma-separated, whose first present value is
    /// the decision's subject [default: enduser.id,user.id].
    #[arg(
        long = "otlp-subject-attributes",
        env = "CAIRND_OTLP_SUBJECT_ATTRIBUTES",
        value_name = "ATTRS",
        help_heading = "OTLP ingest"
    )]
    pub subject_attributes: Option<String>,
    /// Span or resource attributes, comma-separated, whose first present value is
    /// the decision's session [default: session.id,gen_ai.conversation.id].
    #[arg(
        long = "otlp-session-attributes",
        env = "CAIRND_OTLP_SESSION_ATTRIBUTES",
        value_name = "ATTRS",
        help_heading = "OTLP ingest"
    )]
    pub session_attributes: Option<String>,
    /// Span or resource attribute whose value is the model version [default:
    /// `gen_ai.response.model`, else `gen_ai.request.model`].
    #[arg(
        long = "otlp-version-attribute",
        env = "CAIRND_OTLP_VERSION_ATTRIBUTE",
        value_name = "ATTR",
        help_heading = "OTLP ingest"
    )]
    pub version_attribute: Option<String>,
}

impl OtlpSettings {
    /// These settings, with `lower`'s filling every field these leave unset.
    pub fn or(self, lower: OtlpSettings) -> OtlpSettings {
        OtlpSettings {
            stream_attribute: self.stream_attribute.or(lower.stream_attribute),
            subject_attributes: self.subject_attributes.or(lower.subject_attributes),
            session_attributes: self.session_attributes.or(lower.session_attributes),
            version_attribute: self.version_attribute.or(lower.version_attribute),
        }
    }

    /// Apply the defaults and check every name.
    pub fn resolve(self) -> Result<OtlpConfig, ConfigError> {
        let one = |option: &'static str, value: Option<String>| match value {
            Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
                option,
                reason: "an attribute name must not be empty".into(),
            }),
            other => Ok(other.map(|v| v.trim().to_owned())),
        };
        let list = |option: &'static str, value: Option<String>, default: &str| {
            let names = names(value.as_deref().unwrap_or(default));
            match names.is_empty() {
                true => Err(ConfigError::Invalid {
                    option,
                    reason: "name at least one attribute".into(),
                }),
                false => Ok(names),
            }
        };
        Ok(OtlpConfig {
            stream_attribute: one("otlp.stream_attribute", self.stream_attribute)?,
            subject_attributes: list(
                "otlp.subject_attributes",
                self.subject_attributes,
                DEFAULT_SUBJECT_ATTRIBUTES,
            )?,
            session_attributes: list(
                "otlp.session_attributes",
                self.session_attributes,
                DEFAULT_SESSION_ATTRIBUTES,
            )?,
            version_attribute: one("otlp.version_attribute", self.version_attribute)?,
        })
    }
}

fn names(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The checked OTLP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// Attribute naming the stream; `None`: the resource's `service.name`.
    pub stream_attribute: Option<String>,
    /// Attributes naming the subject, first present wins.
    pub subject_attributes: Vec<String>,
    /// Attributes naming the session, first present wins.
    pub session_attributes: Vec<String>,
    /// Attribute naming the model version; `None`: the response model.
    pub version_attribute: Option<String>,
}

impl Default for OtlpConfig {
    fn default() -> OtlpConfig {
        OtlpConfig {
            stream_attribute: None,
            subject_attributes: names(DEFAULT_SUBJECT_ATTRIBUTES),
            session_attributes: names(DEFAULT_SESSION_ATTRIBUTES),
            version_attribute: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_lists_and_empty_names() {
        assert_eq!(
            OtlpSettings::default().resolve().unwrap(),
            OtlpConfig::default()
        );
        let c = OtlpSettings {
            subject_attributes: Some(" app.user , ,enduser.id".into()),
            stream_attribute: Some("app.stream".into()),
            ..OtlpSettings::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.subject_attributes, ["app.user", "enduser.id"]);
        assert_eq!(c.stream_attribute.as_deref(), Some("app.stream"));
        let err = OtlpSettings {
            session_attributes: Some(" , ".into()),
            ..OtlpSettings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("otlp.session_attributes"), "{err}");
        let err = OtlpSettings {
            version_attribute: Some(" ".into()),
            ..OtlpSettings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("otlp.version_attribute"), "{err}");
    }

    #[test]
    fn the_otlp_table_of_the_file_is_read_and_the_command_line_wins() {
        let file = crate::Settings::from_toml(
            "data = \"/d\"\n[otlp]\nstream_attribute = \"app.stream\"\nsession_attributes = \"conv.id\"\n",
        )
        .unwrap();
        let cli = crate::Settings {
            otlp: OtlpSettings {
                stream_attribute: Some("deployment.environment".into()),
                ..OtlpSettings::default()
            },
            ..crate::Settings::default()
        };
        let config = cli.or(file).resolve().unwrap();
        assert_eq!(
            config.otlp.stream_attribute.as_deref(),
            Some("deployment.environment")
        );
        assert_eq!(config.otlp.session_attributes, ["conv.id"]);
        assert_eq!(
            config.otlp.subject_attributes,
            OtlpConfig::default().subject_attributes
        );
        let err = crate::Settings::from_toml("[otlp]\nstream = \"x\"").unwrap_err();
        assert!(err.contains("unknown field `stream`"), "{err}");
    }
}
