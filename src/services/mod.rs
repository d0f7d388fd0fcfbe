//! Operations that span domains, called alike by the API, the dashboard and the CLI: each
//! is one function here, so every caller gets the same checks and the same order of steps.

pub mod alerts;
pub mod assets;
pub mod billing;
pub mod campaigns;
pub mod encryption;
pub mod members;
pub mod my_account;
pub mod offers;
pub mod paywall;
pub mod playback;
pub mod recommendations;
pub mod settings;
pub mod shop;
pub mod stripe_connection;
pub mod titles;
pub mod webhooks;

pub use assets::{AssetService, ServiceError};
pub use billing::BillingService;
pub use paywall::{PaywallService, PaywallServiceError};
pub use playback::PlaybackService;
pub use settings::SettingsService;
pub use titles::{TitleDetail, TitleService, TitleServiceError};
