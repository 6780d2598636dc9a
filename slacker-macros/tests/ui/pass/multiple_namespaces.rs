use slacker_core::{remote, NamespaceService};

mod users {
    #[slacker_core::remote(namespace = "ui.users")]
    pub trait Users {
        async fn count(&self) -> u64;
    }
}

mod orders {
    #[slacker_core::remote(namespace = "ui.orders")]
    pub trait Orders {
        async fn count(&self) -> u64;
    }
}

/// No methods yet.
#[remote(namespace = "ui.empty")]
pub trait Empty {}

// Supertraits the macro also adds may be written out.
#[remote(namespace = "ui.health")]
pub trait Health: Send + Sync {
    async fn ok(&self) -> bool;
}

struct All;

impl users::Users for All {
    async fn count(&self) -> u64 {
        1
    }
}

impl orders::Orders for All {
    async fn count(&self) -> u64 {
        2
    }
}

impl Empty for All {}

impl Health for All {
    async fn ok(&self) -> bool {
        true
    }
}

fn main() {
    let services: Vec<Box<dyn NamespaceService>> = vec![
        Box::new(users::UsersServer::new(All)),
        Box::new(orders::OrdersServer::new(All)),
        Box::new(HealthServer::new(All)),
        Box::new(EmptyServer::new(All)),
    ];
    let names: Vec<&str> = services.iter().map(|s| s.info().name).collect();
    assert_eq!(names, ["ui.users", "ui.orders", "ui.health", "ui.empty"]);
    assert!(EMPTY_NAMESPACE.methods.is_empty());
    assert_eq!(users::USERS_NAMESPACE.methods[0].name, "count");
}
