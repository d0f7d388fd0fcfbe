//! Operating the appliance: backups and restores (`backup`), the data dir lock (`lock`),
//! readiness and the operator's status and alerts (`health`), `marquee doctor`
//! (`doctor`) and `marquee urls` (`urls`). Above the domain modules: it reads the database, the config and the disk.

pub mod backup;
pub mod cli;
pub mod doctor;
pub mod health;
pub mod lock;
pub mod urls;
