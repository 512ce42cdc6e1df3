//! The revocation list itself: bounded, per issuer, never forgetting a revocation.

use std::collections::HashMap;

pub use shared::revocation::{Kind, Revocation};

use crate::auth::Verified;

/// A token or session entry.
#[derive(Debug, Clone)]
struct Named {
    expires: u64,
    /// Whose, so a full list can fold a user's entries into one.
    subject: Option<Box<str>>,
}

/// Tokens issued at or before `not_before` are revoked, until `expires`.
#[derive(Debug, Clone, Copy)]
struct Cutoff {
    not_before: u64,
    expires: u64,
}

impl Cutoff {
    fn covers(&self, issued_at: Option<u64>) -> bool {
        // A token that does not say when it was issued may be any age.
        issued_at.is_none_or(|iat| iat <= self.not_before)
    }

    fn widen(&mut self, other: Cutoff) {
        self.not_before = self.not_before.max(other.not_before);
        self.expires = self.expires.max(other.expires);
    }
}

/// One issuer's revocations.
#[derive(Debug, Default)]
struct Issuer {
    tokens: HashMap<Box<str>, Named>,
    sessions: HashMap<Box<str>, Named>,
    subjects: HashMap<Box<str>, Cutoff>,
    keys: HashMap<Box<str>, u64>,
    /// Every token issued so far: what a list too full to fold any further holds.
    everyone: Option<Cutoff>,
}

impl Issuer {
    fn len(&self) -> usize {
        self.tokens.len()
            + self.sessions.len()
            + self.subjects.len()
            + self.keys.len()
            + usize::from(self.everyone.is_some())
    }

    fn refuses(&self, verified: &Verified) -> bool {
        let id = &verified.identity;
        let issued = verified.issued_at;
        (!id.token_id.is_empty() && self.tokens.contains_key(id.token_id.as_str()))
            || verified
                .session
                .as_deref()
                .is_some_and(|sid| self.sessions.contains_key(sid))
            || verified
                .kid
                .as_deref()
                .is_some_and(|kid| self.keys.contains_key(kid))
            || self
                .subjects
                .get(id.subject.as_str())
                .is_some_and(|cut| cut.covers(issued))
            || self.everyone.is_some_and(|cut| cut.covers(issued))
    }

    fn purge(&mut self, now: u64) {
        self.tokens.retain(|_, n| n.expires > now);
        self.sessions.retain(|_, n| n.expires > now);
        self.subjects.retain(|_, c| c.expires > now);
        self.keys.retain(|_, expires| *expires > now);
        self.everyone = self.everyone.filter(|c| c.expires > now);
    }

    /// Replaces `subject`'s token and session entries by one user-wide entry covering
    /// tokens issued up to `cut.not_before`.
    fn fold_subject(&mut self, subject: &str, mut cut: Cutoff) {
        let mut take = |entries: &mut HashMap<Box<str>, Named>| {
            entries.retain(|_, n| {
                let theirs = n.subject.as_deref() == Some(subject);
                if theirs {
                    cut.expires = cut.expires.max(n.expires);
                }
                !theirs
            });
        };
        take(&mut self.tokens);
        take(&mut self.sessions);
        self.subjects
            .entry(subject.into())
            .and_modify(|c| c.widen(cut))
            .or_insert(cut);
    }

    /// Replaces every token, session and user entry by one covering every token issued
    /// up to `cut.not_before`.
    fn fold_everyone(&mut self, mut cut: Cutoff) {
        let latest = self
            .tokens
            .values()
            .chain(self.sessions.values())
            .map(|n| n.expires)
            .chain(self.subjects.values().map(|c| c.expires))
            .max()
            .unwrap_or(0);
        cut.expires = cut.expires.max(latest);
        for c in self.subjects.values() {
            cut.not_before = cut.not_before.max(c.not_before);
        }
        self.tokens.clear();
        self.sessions.clear();
        self.subjects.clear();
        match &mut self.everyone {
            Some(everyone) => everyone.widen(cut),
            None => self.everyone = Some(cut),
        }
    }
}

/// Every issuer's revocations, at most `capacity` entries in all.
#[derive(Debug)]
pub struct Denials {
    issuers: HashMap<Box<str>, Issuer>,
    len: usize,
    capacity: usize,
    folds: u64,
}

fn seconds(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Denials {
    /// An empty list of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            issuers: HashMap::new(),
            len: 0,
            capacity,
            folds: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How often the list had to fold entries for lack of room.
    pub fn folds(&self) -> u64 {
        self.folds
    }

    /// Whether `verified` is revoked.
    pub fn refuses(&self, verified: &Verified) -> bool {
        self.issuers
            .get(&*verified.issuer)
            .is_some_and(|issuer| issuer.refuses(verified))
    }

    fn recount(&mut self) {
        self.len = self.issuers.values().map(Issuer::len).sum();
    }

    /// Adds `event` at `now`; returns whether the list was full and had to fold entries.
    pub fn insert(&mut self, event: &Revocation, now: u64) -> bool {
        let expires = seconds(event.expires_at);
        if expires <= now {
            return false;
        }
        let issuer = self
            .issuers
            .entry(event.issuer.as_str().into())
            .or_default();
        let named = || Named {
            expires,
            subject: event.subject.as_deref().map(Box::from),
        };
        let value: Box<str> = event.value.as_str().into();
        match event.kind {
            Kind::Token => {
                issuer.tokens.insert(value, named());
            }
            Kind::Session => {
                issuer.sessions.insert(value, named());
            }
            Kind::Subject => {
                let cut = Cutoff {
                    not_before: seconds(event.not_before.unwrap_or(event.created_at)),
                    expires,
                };
                issuer
                    .subjects
                    .entry(value)
                    .and_modify(|c| c.widen(cut))
                    .or_insert(cut);
            }
            Kind::Key => {
                let kept = issuer.keys.entry(value).or_insert(expires);
                *kept = (*kept).max(expires);
            }
        }
        self.recount();
        if self.len <= self.capacity {
            return false;
        }
        self.purge(now);
        if self.len <= self.capacity {
            return false;
        }
        self.folds += 1;
        let cut = Cutoff {
            not_before: seconds(event.created_at),
            expires,
        };
        if let Some(issuer) = self.issuers.get_mut(event.issuer.as_str()) {
            if let Some(subject) = event.subject.as_deref() {
                issuer.fold_subject(subject, cut);
                self.recount();
            }
            if self.len > self.capacity
                && let Some(issuer) = self.issuers.get_mut(event.issuer.as_str())
            {
                issuer.fold_everyone(cut);
                self.recount();
            }
        }
        true
    }

    /// Forgets what has expired by `now`.
    pub fn purge(&mut self, now: u64) {
        for issuer in self.issuers.values_mut() {
            issuer.purge(now);
        }
        self.issuers.retain(|_, issuer| issuer.len() > 0);
        self.recount();
    }
}
