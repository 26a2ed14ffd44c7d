//! One Redis server we talk to: its connection, its circuit breaker, and how a call's
//! outcome is classified.

use crate::breaker::{Breaker, BreakerConfig};
use crate::TIER;
use arc_swap::ArcSwapOption;
use hoard_core::clock::Clock;
use hoard_core::error::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, RedisError, ServerErrorKind, Value};
use std::sync::Arc;
use std::time::Duration;

/// A standalone server or a cluster master.
pub(super) struct Node {
    pub(super) address: String,
    pub(super) info: ConnectionInfo,
    /// Made on first use (it needs a runtime) and dropped after a timeout, so a socket that
    /// went silent is replaced instead of timing out forever.
    connection: ArcSwapOption<ConnectionManager>,
    pub(super) breaker: Breaker,
    timeout: Duration,
}

impl Node {
    pub(super) fn new(
        address: String,
        info: ConnectionInfo,
        breaker: BreakerConfig,
        timeout: Duration,
        clock: Clock,
    ) -> Node {
        Node {
            address,
            info,
            connection: ArcSwapOption::empty(),
            breaker: Breaker::new(breaker, timeout, clock),
            timeout,
        }
    }

    fn connection(&self) -> Result<ConnectionManager> {
        if !self.breaker.allow() {
            return Err(Error::Unavailable {
                tier: TIER,
                reason: format!("circuit open for {}", self.address),
            });
        }
        if let Some(connection) = self.connection.load_full() {
            return Ok(ConnectionManager::clone(&connection));
        }
        let client =
            redis::Client::open(self.info.clone()).map_err(|e| Error::Config(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        // Lazy: nothing is contacted until the first command, inside our timeout.
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| Error::Config(e.to_string()))?;
        self.connection.store(Some(Arc::new(connection.clone())));
        Ok(connection)
    }

    /// Runs one command, within the timeout and through the breaker.
    pub(super) async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let mut connection = self.connection()?;
        let result = tokio::time::timeout(self.timeout, cmd.query_async(&mut connection)).await;
        self.settle(result)
    }

    /// Runs a pipeline, within the timeout and through the breaker.
    pub(super) async fn call_pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T> {
        let mut connection = self.connection()?;
        let result = tokio::time::timeout(self.timeout, pipe.query_async(&mut connection)).await;
        self.settle(result)
    }

    /// Runs a pipeline and returns each command's own outcome: a command the node does not
    /// serve now (see [`Reply::Elsewhere`]) does not fail the others. Errors of the
    /// pipeline as a whole (the node down or silent) are the `Err`.
    pub(super) async fn call_each(&self, mut pipe: redis::Pipeline) -> Result<Vec<Reply>> {
        pipe.ignore_errors();
        let replies: Vec<redis::RedisResult<Value>> = self.call_pipeline(&pipe).await?;
        Ok(replies
            .into_iter()
            .map(|reply| match reply {
                Ok(value) => Reply::Value(value),
                Err(error) if served_elsewhere(&error) => Reply::Elsewhere,
                Err(error) => Reply::Failed(self.judge(error)),
            })
            .collect())
    }

    /// Turns a call's outcome into ours and feeds the breaker: answers close it, silence
    /// (I/O errors, timeouts) counts against it.
    fn settle<T>(
        &self,
        result: std::result::Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        match result {
            Ok(Ok(value)) => {
                self.breaker.succeeded();
                Ok(value)
            }
            Ok(Err(error)) => Err(self.judge(error)),
            Err(_) => {
                self.breaker.failed();
                // The socket may be stuck; the next call gets a new connection.
                self.connection.store(None);
                Err(Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: no answer within {:?}", self.address, self.timeout),
                })
            }
        }
    }

    /// Classifies an error the node answered with, feeding the breaker.
    fn judge(&self, error: RedisError) -> Error {
        match classify(&error) {
            Kind::Redirect { ask } => {
                self.breaker.succeeded();
                // `(address, slot)`: the address is already `host:port`.
                let address = error
                    .redirect_node()
                    .map(|(address, _slot)| address.to_owned())
                    .unwrap_or_default();
                Error::Redirect { address, ask }
            }
            Kind::Unreachable => {
                self.breaker.failed();
                Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: {error}", self.address),
                }
            }
            Kind::Busy => {
                // The node answers, but cannot serve now (loading, cluster down): not a
                // reason to stop talking to it, but the caller should degrade.
                self.breaker.succeeded();
                Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: {error}", self.address),
                }
            }
            Kind::Refused => {
                self.breaker.succeeded();
                Error::Redis(format!("{}: {error}", self.address))
            }
        }
    }
}

/// One command's outcome in a pipeline run by [`Node::call_each`].
pub(super) enum Reply {
    /// What the command returned.
    Value(Value),
    /// The node does not serve the command's key now: `MOVED` or `ASK` for it, or `TRYAGAIN`
    /// for a multi-key command whose keys a slot migration has split. Sent again on its own
    /// route, it is followed as a single-key call is.
    Elsewhere,
    /// Any other error.
    Failed(Error),
}

/// Whether a command failed only because another node serves its key now.
fn served_elsewhere(error: &RedisError) -> bool {
    matches!(
        error.kind(),
        redis::ErrorKind::Server(
            ServerErrorKind::Moved | ServerErrorKind::Ask | ServerErrorKind::TryAgain
        )
    )
}

enum Kind {
    Redirect { ask: bool },
    Unreachable,
    Busy,
    Refused,
}

fn classify(error: &RedisError) -> Kind {
    match error.kind() {
        redis::ErrorKind::Server(ServerErrorKind::Moved) => Kind::Redirect { ask: false },
        redis::ErrorKind::Server(ServerErrorKind::Ask) => Kind::Redirect { ask: true },
        // `READONLY`: a master demoted to replica by a failover; it answers, but another
        // node takes the writes now.
        redis::ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ReadOnly,
        ) => Kind::Busy,
        _ if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_unrecoverable_error() =>
        {
            Kind::Unreachable
        }
        _ => Kind::Refused,
    }
}

pub(super) fn address_of(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => format!("{other:?}"),
    }
}

/// A node at `host:port` with the credentials and TLS settings of `template`.
pub(super) fn node_like(
    template: &Node,
    host: &str,
    port: u16,
    config: &crate::RedisConfig,
) -> Node {
    let addr = match template.info.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    let info = template.info.clone().set_addr(addr);
    Node::new(
        format!("{host}:{port}"),
        info,
        config.breaker,
        config.timeout,
        config.clock.clone(),
    )
}
