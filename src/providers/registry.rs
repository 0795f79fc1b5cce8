//! The provider registry: one static list of the adapters this build knows.
//!
//! Configuration validation runs before any provider is built, yet must know what each
//! provider can do (weighted answers for the canary, its TTL floor, the record types it can
//! publish) and must check each `[providers.NAME]` table. Each adapter crate declares all of
//! that through [`dnsfailback_provider::Adapter`]; [`Registration::of`] turns it into a plain
//! value, and [`REGISTRY`] lists them. Adding a provider is a new crate under `providers/` plus
//! one line in `ADAPTERS` below (docs/writing-a-provider.md).
//!
//! This module depends on the adapter crates only, never on the configuration, so validation
//! can ask it without a cycle.

use std::fmt;
use std::sync::Arc;

use dnsfailback_provider::{Adapter, BuildContext, Capabilities, LocalServer, Provider};
use dnsfailback_provider_cloudflare::CloudflareProvider;
use dnsfailback_provider_embedded::EmbeddedProvider;
use dnsfailback_provider_rfc2136::Rfc2136Provider;
use dnsfailback_provider_route53::Route53Provider;

/// Every adapter this build knows, in the order messages list them ("use one of ...").
/// Adding a provider: one line here.
static ADAPTERS: &[Registration] = &[
    Registration::of::<EmbeddedProvider>(),
    Registration::of::<Route53Provider>(),
    Registration::of::<CloudflareProvider>(),
    Registration::of::<Rfc2136Provider>(),
];

/// The registry the controller uses.
pub static REGISTRY: Registry = Registry::new(ADAPTERS);

/// One adapter as the controller sees it before anything is built.
pub struct Registration {
    /// The `kind` users write in `[providers.NAME]`.
    pub kind: &'static str,
    /// What an instance with default settings can do (used to name the kinds that have a
    /// feature in a fix text; per-instance checks use [`Registration::check`]).
    pub capabilities: Capabilities,
    /// The zone is served from the controller's own process (each controller its own copy).
    pub in_process: bool,
    check: fn(&toml::Table) -> Result<Capabilities, SettingsError>,
    build: fn(&str, &toml::Table, &BuildContext) -> Result<Instance, String>,
}

/// One built provider instance.
pub struct Instance {
    pub provider: Arc<dyn Provider>,
    /// What `run` must start before the first tick and stop last (the embedded DNS server).
    pub server: Option<Arc<dyn LocalServer>>,
}

impl Registration {
    /// The registration of adapter `A`: everything comes from its [`Adapter`] implementation,
    /// so the registry cannot disagree with the adapter.
    pub const fn of<A: Adapter>() -> Registration {
        Registration {
            kind: A::KIND,
            capabilities: A::CAPABILITIES,
            in_process: A::IN_PROCESS,
            check: check::<A>,
            build: build::<A>,
        }
    }

    /// Parses a settings table (without `kind`) into the adapter's `Config`, connecting
    /// nowhere, and returns what an instance with these settings can do. The error names the
    /// bad key.
    pub fn check(&self, settings: &toml::Table) -> Result<Capabilities, SettingsError> {
        (self.check)(settings)
    }

    /// Builds instance `name` from its settings table (loads secrets; sends nothing). Errors
    /// start with `providers.NAME` or the instance name.
    pub fn build(
        &self,
        name: &str,
        settings: &toml::Table,
        context: &BuildContext,
    ) -> Result<Instance, String> {
        (self.build)(name, settings, context)
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("kind", &self.kind)
            .field("capabilities", &self.capabilities)
            .field("in_process", &self.in_process)
            .finish_non_exhaustive()
    }
}

/// A settings table the adapter's `Config` refused: the key it names and serde's message.
///
/// The key is kept apart from the message so that configuration validation can word the
/// problem for people (`config::de_error`) and find the written value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// Key path inside the table, such as `listen` or `propagation_servers[1]`; empty for the
    /// table itself (a missing key).
    pub path: String,
    /// The same path step by step, so configuration validation can compare it with the place
    /// it probed (`config::faults`) without parsing the text back (a key may hold a `.`).
    pub at: Vec<Seg>,
    /// Serde's message, e.g. `invalid socket address syntax`.
    pub message: String,
}

/// One step of a key path: a table's key or an array's index.
///
/// Kept as steps rather than text so that the places in a file can be compared exactly; see
/// [`render`] for the text users read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Deserialises `value` as `T`, keeping the key path of a failure.
pub fn from_value<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = segments(e.path());
        SettingsError {
            path: render(&at),
            at,
            message: e.inner().message().to_string(),
        }
    })
}

/// A serde path in the configuration's own form (`a.b[2].c`), without the private keys of
/// `toml::Spanned` and without enum variants.
pub fn key_path(path: &serde_path_to_error::Path) -> String {
    render(&segments(path))
}

/// A serde path as [`Seg`]s: keys and indices only, without the private keys of
/// `toml::Spanned` and without enum variants.
pub fn segments(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } if !key.starts_with("$__") => Some(Seg::Key(key.clone())),
            Segment::Map { .. } | Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Steps as users read them: `a.b[2].c`.
pub fn render(at: &[Seg]) -> String {
    let mut out = String::new();
    for seg in at {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
    }
    out
}

fn check<A: Adapter>(settings: &toml::Table) -> Result<Capabilities, SettingsError> {
    from_value::<A::Config>(toml::Value::Table(settings.clone())).map(|c| A::capabilities_of(&c))
}

fn build<A: Adapter>(
    name: &str,
    settings: &toml::Table,
    context: &BuildContext,
) -> Result<Instance, String> {
    let config =
        from_value::<A::Config>(toml::Value::Table(settings.clone())).map_err(|e| {
            match e.path.as_str() {
                "" => format!("providers.{name}: {}", e.message),
                key => format!("providers.{name}.{key}: {}", e.message),
            }
        })?;
    let provider = Arc::new(A::from_config(name, config, context).map_err(|e| e.to_string())?);
    let server = A::local_server(&provider);
    Ok(Instance { provider, server })
}

/// A list of registrations; [`REGISTRY`] in production, a fake one in tests.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    adapters: &'static [Registration],
}

impl Registry {
    /// A registry of `adapters`, in the order messages list them.
    pub const fn new(adapters: &'static [Registration]) -> Registry {
        Registry { adapters }
    }

    /// The adapter registered for `kind`.
    pub fn get(&self, kind: &str) -> Option<&'static Registration> {
        self.adapters.iter().find(|r| r.kind == kind)
    }

    /// Every registration, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'static Registration> {
        self.adapters.iter()
    }

    /// Every registered kind, in order (`["embedded", "route53", ...]`).
    pub fn kinds(&self) -> Vec<&'static str> {
        self.iter().map(|r| r.kind).collect()
    }

    /// The kinds whose default capabilities satisfy `has`, e.g. those with weighted records.
    pub fn kinds_with(&self, has: impl Fn(&Capabilities) -> bool) -> Vec<&'static str> {
        self.iter()
            .filter(|r| has(&r.capabilities))
            .map(|r| r.kind)
            .collect()
    }
}
