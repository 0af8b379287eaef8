//! The user service binary (default port 8001); see the crate documentation.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common_platform::server::run(&user_service::SERVICE, user_service::start).await
}
