use slacker_core::{remote, Caller, NamespaceService};

/// A private trait: the generated items are private too.
#[remote(namespace = "ui.basic")]
trait Echo {
    async fn echo(&self, message: String) -> String;
    async fn ping(&self);
    /// Raw identifiers lose their `r#` on the wire.
    async fn r#type(&self, r#in: u32) -> u32;
    /// Methods may have a default body.
    async fn twice(&self, message: String) -> String {
        format!("{message}{message}")
    }
}

struct EchoImpl;

impl Echo for EchoImpl {
    async fn echo(&self, message: String) -> String {
        message
    }
    async fn ping(&self) {}
    async fn r#type(&self, r#in: u32) -> u32 {
        r#in
    }
}

fn assert_service<S: NamespaceService>(_: &S) {}

async fn use_client<C: Caller>(client: EchoClient<C>) -> Result<String, slacker_core::Error> {
    client.ping().await?;
    client.echo("hi".into()).await
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let server = EchoServer::new(EchoImpl);
    assert_service(&server);
    let _clone = server.clone();
    let info: &'static slacker_core::NamespaceInfo = &ECHO_NAMESPACE;
    let ty = info.method("type").expect("remote name without r#");
    assert_eq!(ty.args[0].name, "in");
    if false {
        let client: EchoClient<slacker_test_caller::Never> = EchoClient::new(slacker_test_caller::Never);
        assert_send(use_client(client));
    }
}

mod slacker_test_caller {
    #[derive(Clone)]
    pub struct Never;

    impl slacker_core::Caller for Never {
        async fn call(&self, _call: slacker_core::Call) -> slacker_core::Result<slacker_core::Replies> {
            Err(slacker_core::Error::Closed)
        }
    }
}
