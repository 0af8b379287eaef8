//! The user service binary (default port 8001); see the crate documentation.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::server::run("user-service", 8001, user_service::start).await
}
