//! Payments (issue 11, being built): Stripe's side of subscriptions, rentals and tickets.
//! Today: checking that a webhook really comes from Stripe (`stripe_signature`).

pub mod stripe_signature;
