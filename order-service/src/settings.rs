//! The order service's own settings: the timings of the order engine, how they are read, and the
//! invariants between them that the engine's correctness rests on.
//!
//! They derive from the shared request timeout ([`Config::request_timeout`]), and the one
//! variable only this service reads, `ORDER_RECOVERY_GRACE_SECS`, is read with [`Env`] through the
//! same lookup as [`Config`]: the process environment in [`crate::start`], a test's own map in
//! tests. A bad value is refused with a message that names its variable.
//!
//! The recovery pass treats a hold, a cancel or a key older than the grace period as left by a
//! request that has stopped. That is only true because every request's order work runs detached
//! and is cut off after the step timeout, so the grace period must stay well above it; and a
//! return marker must outlive every return of its order still in flight. [`OrderSettings::check`]
//! states these rules once, and [`crate::engine::OrderEngine::new`] refuses settings that break
//! them.

use std::{fmt, time::Duration};

use common_platform::config::{Config, ConfigError, Env, ServiceSettings};

pub use crate::{providers::ProviderSecrets, webhooks::WebhookSettings};

/// The grace period is at least this many step timeouts: one for the step itself, the rest as a
/// margin for clocks that differ between replicas and for a pass working from a list it read a
/// little earlier. The derived settings keep six.
pub const MIN_GRACE_IN_STEPS: u32 = 3;

/// How often the recovery pass runs, unless a shorter grace period asks for more often.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(30);

/// The grace period `ORDER_RECOVERY_GRACE_SECS` may set, in seconds.
const GRACE_SECS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// Timings of the order machinery, derived from the request timeout by [`OrderSettings::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSettings {
    /// Holds, cancels and keys older than this belong to requests that have stopped:
    /// six request timeouts, and at least a minute.
    pub grace: Duration,
    /// Return markers are cleared after this (twice the grace period).
    pub marker_retention: Duration,
    /// How often the recovery pass runs.
    pub recovery_interval: Duration,
    /// How long one detached step may run: a request's order work, or the recovery pass
    /// finishing one cancel (the request timeout).
    pub step_timeout: Duration,
    /// How long a repeated `Idempotency-Key` waits for the first request's order.
    pub claim_wait: Duration,
    /// How often it looks while waiting.
    pub claim_poll: Duration,
    /// How long a checkout holds its stock waiting for its payment (`CHECKOUT_HOLD_SECS`, 5 to
    /// 86 400, default 900).
    pub checkout_hold: Duration,
    /// How often unpaid checkouts past their deadline are expired.
    pub expiry_interval: Duration,
    /// The payment providers' signing secrets; a provider without one has no route.
    pub providers: ProviderSecrets,
    /// How webhooks are delivered and events kept.
    pub webhooks: WebhookSettings,
    /// Placing an order (or a checkout) needs a verified email (`REQUIRE_VERIFIED_EMAIL`, false).
    pub require_verified_email: bool,
}

/// `CHECKOUT_HOLD_SECS`' default, range and the expiry pass's period.
const CHECKOUT_HOLD_SECS: (u64, std::ops::RangeInclusive<u64>) = (900, 5..=86_400);
const EXPIRY_INTERVAL: Duration = Duration::from_secs(1);

impl OrderSettings {
    /// The settings for a request timeout of `request_timeout`. They pass [`Self::check`] for
    /// any non-zero timeout.
    pub fn new(request_timeout: Duration) -> Self {
        let grace = (request_timeout * 6).max(Duration::from_secs(60));
        Self {
            grace,
            marker_retention: grace * 2,
            recovery_interval: RECOVERY_INTERVAL,
            step_timeout: request_timeout,
            claim_wait: (request_timeout / 2).min(Duration::from_secs(5)),
            claim_poll: Duration::from_millis(10),
            checkout_hold: Duration::from_secs(CHECKOUT_HOLD_SECS.0),
            expiry_interval: EXPIRY_INTERVAL,
            providers: ProviderSecrets::default(),
            webhooks: WebhookSettings::default(),
            require_verified_email: false,
        }
    }

    /// The settings derived from `config`'s request timeout, with `ORDER_RECOVERY_GRACE_SECS`
    /// (1 to 86 400) read through `lookup` as the grace period when it is set. They are not
    /// checked here: [`Self::check`], which the engine runs, later refuses a grace period under
    /// three request timeouts.
    pub fn from_lookup(
        config: &Config,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::read(config, &Env::new(lookup))
    }

    /// These settings with the grace period `grace` (`ORDER_RECOVERY_GRACE_SECS`): return markers
    /// kept twice as long, and the recovery pass run at least twice per grace period (every 30 s
    /// at most). [`Self::check`] still refuses a grace period under three steps.
    #[must_use]
    pub fn with_grace(self, grace: Duration) -> Self {
        Self {
            grace,
            marker_retention: grace * 2,
            recovery_interval: (grace / 2).min(RECOVERY_INTERVAL),
            ..self
        }
    }

    /// Whether these timings keep the engine correct:
    ///
    /// - the step timeout, the recovery interval and the claim poll are not zero;
    /// - the grace period is at least [`MIN_GRACE_IN_STEPS`] step timeouts, so the recovery pass
    ///   never settles the holds, cancel or key of a request still running;
    /// - return markers are kept longer than the grace period, so none is cleared while a return
    ///   of its order (which ends within a step of the cancel) may still be in flight;
    /// - a repeated key waits at most half a step, so it answers before its own step is cut off.
    pub fn check(&self) -> Result<(), InvalidSettings> {
        let positive = [
            ("step_timeout", self.step_timeout),
            ("recovery_interval", self.recovery_interval),
            ("claim_poll", self.claim_poll),
        ];
        if let Some((name, _)) = positive.into_iter().find(|(_, value)| value.is_zero()) {
            return Err(InvalidSettings::Zero(name));
        }
        if self.grace < self.step_timeout.saturating_mul(MIN_GRACE_IN_STEPS) {
            return Err(InvalidSettings::GraceTooShort {
                grace: self.grace,
                step_timeout: self.step_timeout,
            });
        }
        if self.marker_retention <= self.grace {
            return Err(InvalidSettings::MarkersClearedTooSoon {
                marker_retention: self.marker_retention,
                grace: self.grace,
            });
        }
        if self.claim_wait > self.step_timeout / 2 {
            return Err(InvalidSettings::ClaimWaitTooLong {
                claim_wait: self.claim_wait,
                step_timeout: self.step_timeout,
            });
        }
        Ok(())
    }
}

/// Timings that would let the recovery pass or a repeated key break an order; see
/// [`OrderSettings::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidSettings {
    /// This duration must not be zero.
    Zero(&'static str),
    /// The grace period is under [`MIN_GRACE_IN_STEPS`] step timeouts.
    GraceTooShort {
        /// The grace period.
        grace: Duration,
        /// The step timeout.
        step_timeout: Duration,
    },
    /// Return markers would be cleared no later than the grace period.
    MarkersClearedTooSoon {
        /// How long return markers are kept.
        marker_retention: Duration,
        /// The grace period.
        grace: Duration,
    },
    /// A repeated key would wait more than half a step.
    ClaimWaitTooLong {
        /// How long a repeated key waits.
        claim_wait: Duration,
        /// The step timeout.
        step_timeout: Duration,
    },
}

impl fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero(name) => write!(f, "the order setting {name} must not be zero"),
            Self::GraceTooShort {
                grace,
                step_timeout,
            } => write!(
                f,
                "the recovery grace period ({grace:?}) must be at least {MIN_GRACE_IN_STEPS} step \
                 timeouts ({step_timeout:?} each), or it may settle orders still being placed"
            ),
            Self::MarkersClearedTooSoon {
                marker_retention,
                grace,
            } => write!(
                f,
                "return markers must be kept ({marker_retention:?}) longer than the grace period \
                 ({grace:?}), or a line may be returned twice"
            ),
            Self::ClaimWaitTooLong {
                claim_wait,
                step_timeout,
            } => write!(
                f,
                "a repeated Idempotency-Key may wait ({claim_wait:?}) at most half the step \
                 timeout ({step_timeout:?})"
            ),
        }
    }
}

impl std::error::Error for InvalidSettings {}

impl ServiceSettings for OrderSettings {
    /// The settings derived from `config`'s request timeout, with `ORDER_RECOVERY_GRACE_SECS`
    /// (1 to 86 400) as the grace period when it is set (see [`OrderSettings::from_lookup`]).
    fn read(
        config: &Config,
        env: &Env<impl Fn(&str) -> Option<String>>,
    ) -> Result<Self, ConfigError> {
        let derived = Self::new(config.request_timeout);
        let grace = env.parse_in_range(
            "ORDER_RECOVERY_GRACE_SECS",
            derived.grace.as_secs(),
            GRACE_SECS,
        )?;
        let (hold, hold_range) = CHECKOUT_HOLD_SECS;
        let hold = env.parse_in_range("CHECKOUT_HOLD_SECS", hold, hold_range)?;
        Ok(Self {
            checkout_hold: Duration::from_secs(hold),
            providers: ProviderSecrets::read(env)?,
            webhooks: WebhookSettings::read(env)?,
            require_verified_email: env.parse("REQUIRE_VERIFIED_EMAIL", false)?,
            ..derived.with_grace(Duration::from_secs(grace))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    /// The settings read from `vars`, with the shared configuration read from the same map.
    fn read(vars: &[(&str, &str)]) -> Result<OrderSettings, ConfigError> {
        let secret = "s".repeat(32);
        let lookup = |name: &str| {
            let found = vars.iter().find(|(key, _)| *key == name);
            match (name, found) {
                (_, Some((_, value))) => Some((*value).to_owned()),
                ("JWT_SECRET", None) => Some(secret.clone()),
                _ => None,
            }
        };
        let config = Config::from_lookup(8003, lookup)?;
        OrderSettings::from_lookup(&config, lookup)
    }

    #[test]
    fn with_nothing_set_the_timings_derive_from_the_request_timeout() {
        let defaults = read(&[]).unwrap();
        let quick = read(&[("REQUEST_TIMEOUT_SECS", "20")]).unwrap();

        assert_eq!(defaults, OrderSettings::new(secs(10)));
        assert_eq!(quick, OrderSettings::new(secs(20)));
        assert_eq!((quick.grace, quick.step_timeout), (secs(120), secs(20)));
    }

    #[test]
    fn a_grace_period_is_read_from_the_same_lookup_as_the_shared_settings() {
        let settings = read(&[
            ("REQUEST_TIMEOUT_SECS", "2"),
            ("ORDER_RECOVERY_GRACE_SECS", "6"),
        ])
        .unwrap();

        assert_eq!(settings, OrderSettings::new(secs(2)).with_grace(secs(6)));
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn a_grace_period_out_of_range_or_malformed_names_its_variable() {
        for value in ["0", "86401", "-1", "a minute"] {
            let err = read(&[("ORDER_RECOVERY_GRACE_SECS", value)]).unwrap_err();

            assert!(
                err.to_string()
                    .starts_with("ORDER_RECOVERY_GRACE_SECS is invalid"),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn the_derived_settings_pass_for_every_request_timeout_the_config_allows() {
        for timeout in (1..=300).map(secs).chain([Duration::from_millis(1)]) {
            let settings = OrderSettings::new(timeout);

            assert_eq!(settings.check(), Ok(()), "request timeout {timeout:?}");
        }
    }

    #[test]
    fn a_short_grace_period_for_tests_passes_while_it_stays_well_above_the_step() {
        let quick = OrderSettings {
            grace: secs(3),
            marker_retention: secs(6),
            recovery_interval: Duration::from_millis(100),
            step_timeout: secs(1),
            claim_wait: Duration::from_millis(500),
            claim_poll: Duration::from_millis(10),
            ..OrderSettings::new(secs(1))
        };

        assert_eq!(quick.check(), Ok(()));
    }

    #[test]
    fn a_chosen_grace_period_sets_the_marker_retention_and_the_recovery_interval() {
        let short = OrderSettings::new(secs(2)).with_grace(secs(6));
        let long = OrderSettings::new(secs(10)).with_grace(secs(3600));

        assert_eq!(
            (short.grace, short.marker_retention, short.recovery_interval),
            (secs(6), secs(12), secs(3))
        );
        assert_eq!(short.check(), Ok(()));
        assert_eq!(long.recovery_interval, secs(30));
        assert_eq!(long.check(), Ok(()));
        assert!(
            OrderSettings::new(secs(10))
                .with_grace(secs(20))
                .check()
                .is_err()
        );
    }

    #[test]
    fn a_grace_period_under_three_steps_is_refused() {
        let settings = OrderSettings {
            grace: secs(20),
            ..OrderSettings::new(secs(10))
        };

        assert_eq!(
            settings.check(),
            Err(InvalidSettings::GraceTooShort {
                grace: secs(20),
                step_timeout: secs(10)
            })
        );
    }

    #[test]
    fn markers_kept_no_longer_than_the_grace_period_are_refused() {
        let defaults = OrderSettings::new(secs(10));
        let settings = OrderSettings {
            marker_retention: defaults.grace,
            ..defaults.clone()
        };

        assert_eq!(
            settings.check(),
            Err(InvalidSettings::MarkersClearedTooSoon {
                marker_retention: defaults.grace,
                grace: defaults.grace
            })
        );
    }

    #[test]
    fn a_claim_wait_over_half_a_step_is_refused() {
        let settings = OrderSettings {
            claim_wait: secs(10),
            ..OrderSettings::new(secs(10))
        };

        assert!(matches!(
            settings.check(),
            Err(InvalidSettings::ClaimWaitTooLong { .. })
        ));
    }

    #[test]
    fn zero_durations_are_refused() {
        let defaults = OrderSettings::new(secs(10));
        let no_interval = OrderSettings {
            recovery_interval: Duration::ZERO,
            ..defaults.clone()
        };
        let no_step = OrderSettings {
            step_timeout: Duration::ZERO,
            ..defaults
        };

        assert_eq!(
            no_interval.check(),
            Err(InvalidSettings::Zero("recovery_interval"))
        );
        assert_eq!(no_step.check(), Err(InvalidSettings::Zero("step_timeout")));
    }
}
