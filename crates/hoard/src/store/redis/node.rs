//! One Redis server we talk to: its connection, its circuit breaker, and how a call's
//! outcome is classified.

use super::breaker::{Breaker, BreakerConfig};
use super::TIER;
use crate::clock::Clock;
use crate::error::{Error, Result};
use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionInfo, RedisError, ServerErrorKind};
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

    /// Turns a call's outcome into ours and feeds the breaker: answers close it, silence
    /// (I/O errors, timeouts) counts against it.
    fn settle<T>(
        &self,
        result: std::result::Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        let error = match result {
            Ok(Ok(value)) => {
                self.breaker.succeeded();
                return Ok(value);
            }
            Ok(Err(error)) => error,
            Err(_) => {
                self.breaker.failed();
                // The socket may be stuck; the next call gets a new connection.
                self.connection.store(None);
                return Err(Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: no answer within {:?}", self.address, self.timeout),
                });
            }
        };
        match classify(&error) {
            Kind::Redirect { ask } => {
                self.breaker.succeeded();
                // `(address, slot)`: the address is already `host:port`.
                let address = error
                    .redirect_node()
                    .map(|(address, _slot)| address.to_owned())
                    .unwrap_or_default();
                Err(Error::Redirect { address, ask })
            }
            Kind::Unreachable => {
                self.breaker.failed();
                Err(Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: {error}", self.address),
                })
            }
            Kind::Busy => {
                // The node answers, but cannot serve now (loading, cluster down): not a
                // reason to stop talking to it, but the caller should degrade.
                self.breaker.succeeded();
                Err(Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: {error}", self.address),
                })
            }
            Kind::Refused => {
                self.breaker.succeeded();
                Err(Error::Redis(format!("{}: {error}", self.address)))
            }
        }
    }
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
        redis::ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain,
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
