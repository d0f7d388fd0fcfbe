//! Who may play what. A title (or its season, collection or extra) carries an access level
//! (`level`); the one entitlement engine (`entitlement::decide`) answers "may this viewer
//! play this title now, until when, and if not, why and what would let them". The watch
//! page, the origin's token minting, the API and the dashboard all ask it; nothing else
//! decides access. Time comes in as a parameter, so trials, rentals, grace periods and
//! event windows are decided the same way in tests and in production.

pub mod codes;
pub mod entitlement;
pub mod level;

#[cfg(test)]
mod tests;
