//! The user service binary (default port 8001); see the crate documentation.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common_platform::server::run_with_settings(
        "user-service",
        8001,
        user_service::settings::UserSettings::from_env,
        user_service::start,
    )
    .await
}
