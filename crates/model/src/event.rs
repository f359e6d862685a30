//! Events: what happened to which resource, as DescribeEvents reports it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kind of resource an event is about, with ElastiCache's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceType {
    /// `cache-cluster`
    CacheCluster,
    /// `cache-parameter-group`
    CacheParameterGroup,
    /// `cache-security-group`
    CacheSecurityGroup,
    /// `cache-subnet-group`
    CacheSubnetGroup,
    /// `replication-group`
    ReplicationGroup,
    /// `serverless-cache`
    ServerlessCache,
    /// `serverless-cache-snapshot`
    ServerlessCacheSnapshot,
    /// `user`
    User,
    /// `user-group`
    UserGroup,
}

impl SourceType {
    const ALL: [SourceType; 9] = [
        SourceType::CacheCluster,
        SourceType::CacheParameterGroup,
        SourceType::CacheSecurityGroup,
        SourceType::CacheSubnetGroup,
        SourceType::ReplicationGroup,
        SourceType::ServerlessCache,
        SourceType::ServerlessCacheSnapshot,
        SourceType::User,
        SourceType::UserGroup,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::CacheCluster => "cache-cluster",
            SourceType::CacheParameterGroup => "cache-parameter-group",
            SourceType::CacheSecurityGroup => "cache-security-group",
            SourceType::CacheSubnetGroup => "cache-subnet-group",
            SourceType::ReplicationGroup => "replication-group",
            SourceType::ServerlessCache => "serverless-cache",
            SourceType::ServerlessCacheSnapshot => "serverless-cache-snapshot",
            SourceType::User => "user",
            SourceType::UserGroup => "user-group",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<SourceType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The resource id the event is about.
    pub source_identifier: String,
    /// The resource kind.
    pub source_type: SourceType,
    /// What happened, in ElastiCache's wording where there is one.
    pub message: String,
    /// When it happened.
    pub date: DateTime<Utc>,
}

impl Event {
    /// An event about a cache cluster, now.
    pub fn cache_cluster(id: &str, message: impl Into<String>) -> Event {
        Event {
            source_identifier: id.to_string(),
            source_type: SourceType::CacheCluster,
            message: message.into(),
            date: Utc::now(),
        }
    }
}
