//! The task store on DynamoDB: one item per task, conditional writes on a version
//! number, and a TTL attribute for expiry.
//!
//! Item schema (table key: `origin`, a string partition key, no sort key):
//!
//! | attribute | type | holds |
//! | --- | --- | --- |
//! | `origin` | S | the task id's origin: the request the task came from |
//! | `taskId` | S | the whole task id (`ORIGIN.SECRET`) |
//! | `version` | N | 1 at creation, +1 per update: what conditional writes compare |
//! | `taskStatus` | S | the status, for people reading the table |
//! | `expiresAtMs` | N | Unix ms at which the task is gone (reads compare it) |
//! | `expiresAt` | N | the same in Unix seconds, rounded up: the table's TTL attribute |
//! | `record` | S | the whole [`TaskRecord`] as JSON |
//!
//! DynamoDB deletes items past their TTL lazily (within days; moto never does), so
//! every read and conditional write also compares `expiresAtMs` with the caller's
//! `now_ms`: an expired item reads as absent. An item holds at most 400 KB
//! ([`MAX_ITEM_BYTES`]), the request and the result together: a bigger record is
//! refused as [`StoreError::TooLarge`] before any call (measured with
//! [`task_item_bytes`], as DynamoDB counts), and so is one DynamoDB refuses with its
//! item size `ValidationException`.
//!
//! Calls per task: create 1 `PutItem`, each rule applied 1 `GetItem` + 1 `PutItem`
//! (the worker that created the task holds the version already and skips the read),
//! `tasks/get` 1 `GetItem`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use asyncmcp_driver::{BoxFuture, MAX_ITEM_BYTES, StoreError, TaskStore, Versioned, task_item_bytes};
use asyncmcp_proto::tasks::{TaskId, TaskRecord};
use asyncmcp_proto::{FailureKind, OpFailure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_types::SdkConfig;

use crate::errors::{Call, from_sdk};

const ORIGIN: &str = "origin";
const TASK_ID: &str = "taskId";
const VERSION: &str = "version";
const STATUS: &str = "taskStatus";
const EXPIRES_MS: &str = "expiresAtMs";
/// The table's TTL attribute (epoch seconds, as DynamoDB requires).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
const RECORD: &str = "record";

type Item = HashMap<String, AttributeValue>;

/// [`TaskStore`] on a DynamoDB table (see the module docs for the item schema).
///
/// Cheap to clone; clones share the call counter.
#[derive(Debug, Clone)]
pub struct DynamoTaskStore {
    client: Client,
    table: Arc<str>,
    calls: Arc<AtomicU64>,
    max_item_bytes: usize,
}

impl DynamoTaskStore {
    /// A store on `table` with the SDK configuration `config` (credentials, region,
    /// HTTP client: as for [`AwsQueueClient::new`](crate::AwsQueueClient::new)).
    #[must_use]
    pub fn new(config: &SdkConfig, table: &str) -> Self {
        Self::from_client(Client::new(config), table)
    }

    /// A store on `table` through an existing client.
    #[must_use]
    pub fn from_client(client: Client, table: &str) -> Self {
        Self { client, table: Arc::from(table), calls: Arc::new(AtomicU64::new(0)), max_item_bytes: MAX_ITEM_BYTES }
    }

    /// The store refusing records over `bytes` (default [`MAX_ITEM_BYTES`],
    /// DynamoDB's item limit) before any call: lower it to keep items, and the write
    /// units each costs (1 per KB), small. Above DynamoDB's limit DynamoDB decides,
    /// and its refusal is a [`StoreError::TooLarge`] all the same.
    #[must_use]
    pub fn with_max_item_bytes(mut self, bytes: usize) -> Self {
        self.max_item_bytes = bytes;
        self
    }

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// DynamoDB calls made so far (every attempt counts: each is billed).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Creates the table (on-demand billing, key `origin`) and turns on TTL on
    /// [`TTL_ATTRIBUTE`]. A table that exists already is kept; TTL is turned on
    /// all the same.
    ///
    /// # Errors
    /// The failure of `CreateTable` or `UpdateTimeToLive`, naming the table.
    pub async fn create_table(&self) -> Result<(), OpFailure> {
        let table = &*self.table;
        self.count();
        let created = self
            .client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(ORIGIN)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| invalid(table, &e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(ORIGIN)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| invalid(table, &e))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(from_sdk(&e, Call::table("dynamodb:CreateTable", table))),
        }
        self.count();
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|e| invalid(table, &e))?;
        match self.client.update_time_to_live().table_name(table).time_to_live_specification(spec).send().await {
            Ok(_) => Ok(()),
            // "TimeToLive is already enabled": what we wanted.
            Err(e) if e.as_service_error().is_some_and(|s| s.meta().code() == Some("ValidationException")) => Ok(()),
            Err(e) => Err(from_sdk(&e, Call::table("dynamodb:UpdateTimeToLive", table))),
        }
    }

    /// The attribute the table's TTL is on, when TTL is enabled (or being enabled).
    ///
    /// # Errors
    /// The failure of `DescribeTimeToLive`.
    pub async fn ttl_attribute(&self) -> Result<Option<String>, OpFailure> {
        self.count();
        let out = self
            .client
            .describe_time_to_live()
            .table_name(&*self.table)
            .send()
            .await
            .map_err(|e| from_sdk(&e, Call::table("dynamodb:DescribeTimeToLive", &self.table)))?;
        let Some(d) = out.time_to_live_description() else { return Ok(None) };
        let on = matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
        Ok(d.attribute_name().filter(|_| on).map(str::to_owned))
    }

    /// Deletes the table.
    ///
    /// # Errors
    /// The failure of `DeleteTable`.
    pub async fn delete_table(&self) -> Result<(), OpFailure> {
        self.count();
        self.client
            .delete_table()
            .table_name(&*self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk(&e, Call::table("dynamodb:DeleteTable", &self.table)))
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

fn invalid(table: &str, e: &dyn std::fmt::Display) -> OpFailure {
    OpFailure::new(FailureKind::Invalid, format!("table {table}: the request could not be built: {e}"))
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// [`StoreError::TooLarge`] when the item of `record` at `version` is over `limit`
/// (spares a call DynamoDB would refuse).
fn check_size(record: &TaskRecord, version: u64, limit: usize) -> Result<(), StoreError> {
    let size = task_item_bytes(record, version);
    if size > limit {
        return Err(StoreError::TooLarge { size, limit });
    }
    Ok(())
}

/// Whether DynamoDB refused a write because its item is over 400 KB: a
/// `ValidationException` "Item size has exceeded the maximum allowed size" (the
/// same text from moto).
fn is_item_too_large(e: &aws_sdk_dynamodb::operation::put_item::PutItemError) -> bool {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    e.code() == Some("ValidationException") && e.message().is_some_and(|m| m.contains("Item size"))
}

fn item_of(version: u64, record: &TaskRecord) -> Result<Item, StoreError> {
    let json = serde_json::to_string(record)
        .map_err(|e| StoreError::Service(OpFailure::new(FailureKind::Invalid, format!("task record: {e}"))))?;
    let expires_ms = record.expires_ms();
    Ok(HashMap::from([
        (ORIGIN.to_owned(), AttributeValue::S(record.id.origin().to_owned())),
        (TASK_ID.to_owned(), AttributeValue::S(record.id.to_string())),
        (VERSION.to_owned(), n(version)),
        (STATUS.to_owned(), AttributeValue::S(record.status.as_str().to_owned())),
        (EXPIRES_MS.to_owned(), n(expires_ms)),
        (TTL_ATTRIBUTE.to_owned(), n(expires_ms.div_ceil(1000))),
        (RECORD.to_owned(), AttributeValue::S(json)),
    ]))
}

/// The stored record if the item is one of ours and live at `now_ms`. An item that
/// does not parse reads as absent (and is logged): it is not a task we can serve.
fn versioned_of(item: &Item, now_ms: u64) -> Option<Versioned> {
    let version = item.get(VERSION)?.as_n().ok()?.parse().ok()?;
    let json = item.get(RECORD)?.as_s().ok()?;
    match serde_json::from_str::<TaskRecord>(json) {
        Ok(record) if !record.is_expired(now_ms) => Some(Versioned::new(version, record)),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "task store: an item's record does not parse; treated as absent");
            None
        }
    }
}

impl TaskStore for DynamoTaskStore {
    fn create(&self, record: TaskRecord, now_ms: u64) -> BoxFuture<'static, Result<Versioned, StoreError>> {
        let this = self.clone();
        Box::pin(async move {
            check_size(&record, 1, this.max_item_bytes)?;
            let item = item_of(1, &record)?;
            this.count();
            let put = this
                .client
                .put_item()
                .table_name(&*this.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#o) OR #e <= :now")
                .expression_attribute_names("#o", ORIGIN)
                .expression_attribute_names("#e", EXPIRES_MS)
                .expression_attribute_values(":now", n(now_ms))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match put {
                Ok(_) => Ok(Versioned::new(1, record)),
                Err(e) => match e.as_service_error() {
                    Some(s) if s.is_conditional_check_failed_exception() => {
                        let old = match &s {
                            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                                c.item().and_then(|i| versioned_of(i, now_ms))
                            }
                            _ => None,
                        };
                        let existing = match old {
                            Some(v) => v,
                            // The service did not return the item: read it.
                            None => this.read(record.id.origin(), now_ms).await?.ok_or(StoreError::Conflict)?,
                        };
                        Err(StoreError::Exists(Box::new(existing)))
                    }
                    Some(s) if is_item_too_large(s) => {
                        Err(StoreError::TooLarge { size: task_item_bytes(&record, 1), limit: MAX_ITEM_BYTES })
                    }
                    _ => Err(StoreError::Service(from_sdk(&e, Call::table("dynamodb:PutItem", &this.table)))),
                },
            }
        })
    }

    fn get(&self, id: &TaskId, now_ms: u64) -> BoxFuture<'static, Result<Versioned, StoreError>> {
        let this = self.clone();
        let id = id.clone();
        Box::pin(async move {
            match this.read(id.origin(), now_ms).await? {
                Some(v) if v.record.id == id => Ok(v),
                _ => Err(StoreError::NotFound),
            }
        })
    }

    fn update(
        &self,
        expected_version: u64,
        record: TaskRecord,
        now_ms: u64,
    ) -> BoxFuture<'static, Result<Versioned, StoreError>> {
        let this = self.clone();
        Box::pin(async move {
            let next = expected_version + 1;
            check_size(&record, next, this.max_item_bytes)?;
            let item = item_of(next, &record)?;
            this.count();
            let put = this
                .client
                .put_item()
                .table_name(&*this.table)
                .set_item(Some(item))
                .condition_expression("#v = :expected AND #t = :id AND #e > :now")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_names("#t", TASK_ID)
                .expression_attribute_names("#e", EXPIRES_MS)
                .expression_attribute_values(":expected", n(expected_version))
                .expression_attribute_values(":id", AttributeValue::S(record.id.to_string()))
                .expression_attribute_values(":now", n(now_ms))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match put {
                Ok(_) => Ok(Versioned::new(next, record)),
                Err(e) => match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                        // Another write came first, or the task is gone: the old item
                        // tells which (read it when the service did not return it).
                        let current = match c.item() {
                            Some(item) => versioned_of(item, now_ms),
                            None => this.read(record.id.origin(), now_ms).await?,
                        };
                        match current {
                            Some(v) if v.record.id == record.id => Err(StoreError::Conflict),
                            _ => Err(StoreError::NotFound),
                        }
                    }
                    Some(s) if is_item_too_large(s) => {
                        Err(StoreError::TooLarge { size: task_item_bytes(&record, next), limit: MAX_ITEM_BYTES })
                    }
                    _ => Err(StoreError::Service(from_sdk(&e, Call::table("dynamodb:PutItem", &this.table)))),
                },
            }
        })
    }

    fn delete(&self, id: &TaskId) -> BoxFuture<'static, Result<(), StoreError>> {
        let this = self.clone();
        let id = id.clone();
        Box::pin(async move {
            this.count();
            let deleted = this
                .client
                .delete_item()
                .table_name(&*this.table)
                .key(ORIGIN, AttributeValue::S(id.origin().to_owned()))
                .condition_expression("#t = :id")
                .expression_attribute_names("#t", TASK_ID)
                .expression_attribute_values(":id", AttributeValue::S(id.to_string()))
                .send()
                .await;
            match deleted {
                Ok(_) => Ok(()),
                // Not there, or another task's: nothing of this task to delete.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
                Err(e) => Err(StoreError::Service(from_sdk(&e, Call::table("dynamodb:DeleteItem", &this.table)))),
            }
        })
    }
}

impl DynamoTaskStore {
    /// A strongly consistent `GetItem` of the item for `origin`, live at `now_ms`.
    async fn read(&self, origin: &str, now_ms: u64) -> Result<Option<Versioned>, StoreError> {
        self.count();
        let got = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(ORIGIN, AttributeValue::S(origin.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Service(from_sdk(&e, Call::table("dynamodb:GetItem", &self.table))))?;
        Ok(got.item().and_then(|item| versioned_of(item, now_ms)))
    }
}

#[cfg(test)]
mod tests {
    use asyncmcp_proto::tasks::{TaskLimits, TaskRequest};

    use super::*;

    /// DynamoDB's size of an item of strings and numbers (its documented rule).
    fn dynamodb_size(item: &Item) -> usize {
        let value = |v: &AttributeValue| match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.trim_start_matches('0').trim_end_matches('0').len().max(1).div_ceil(2) + 1,
            other => panic!("not in a task item: {other:?}"),
        };
        item.iter().map(|(name, v)| name.len() + value(v)).sum()
    }

    /// The pre-check and the memory store measure the item this store writes.
    #[test]
    fn an_item_is_as_big_as_task_item_bytes_says() {
        let limits = TaskLimits::default();
        let now = 1_764_560_123_456;
        let params = serde_json::json!({"name": "echo", "arguments": {"text": "é".repeat(1_000)}});
        let request = TaskRequest::new("tools/call", Some(params));
        let id = TaskId::new("s|session-1|7", [3; 16]).unwrap();
        let mut record = TaskRecord::create(id, request, None, &limits, now);
        record.claim("worker", &limits, now).unwrap();
        for version in [1, 2, 10, 12_345] {
            let item = item_of(version, &record).unwrap();
            assert_eq!(dynamodb_size(&item), task_item_bytes(&record, version), "version {version}");
        }
    }
}
