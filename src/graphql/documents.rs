//! Parsed GraphQL documents by source text.
//!
//! Admin UIs send the same few documents over and over with different variables; parsing one
//! again on every request was 4-10 % of the server's CPU on small queries (bench/README.md),
//! and a clone of the parsed tree is much cheaper. Only documents that parsed are kept, only
//! small ones, and only so many: a client sending endless distinct documents costs a bounded
//! amount of memory and no more than parsing them would.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;

/// Most documents kept; when full, the cache starts over.
const MAX_DOCUMENTS: usize = 256;
/// Longest source kept, in bytes (react-admin's documents are well under 1 KiB).
const MAX_SOURCE: usize = 4 * 1024;

#[derive(Default)]
pub struct DocumentCache {
    documents: Mutex<HashMap<String, ExecutableDocument>>,
}

impl DocumentCache {
    /// Gives `request` its parsed document: from the cache, or parsed now and kept. A document
    /// that does not parse is left for async-graphql to report.
    pub fn parse(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_SOURCE {
            return;
        }
        if let Some(document) = self.lock().get(&request.query) {
            request.set_parsed_query(document.clone());
            return;
        }
        let Ok(document) = request.parsed_query() else {
            return;
        };
        let document = document.clone();
        let mut documents = self.lock();
        if documents.len() >= MAX_DOCUMENTS {
            documents.clear();
        }
        documents.insert(request.query.clone(), document);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        // A map of immutable entries cannot be left half-updated by a panicking holder.
        self.documents.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_parsed_documents_and_stays_bounded() {
        let cache = DocumentCache::default();
        let mut first = async_graphql::Request::new("{ me { id } }");
        cache.parse(&mut first);
        let mut second = async_graphql::Request::new("{ me { id } }");
        cache.parse(&mut second);
        assert_eq!(cache.lock().len(), 1);
        assert!(second.parsed_query().is_ok());

        let mut broken = async_graphql::Request::new("{ me { id }");
        cache.parse(&mut broken);
        assert_eq!(
            cache.lock().len(),
            1,
            "a document that fails to parse is not kept"
        );
        assert!(broken.parsed_query().is_err());

        for i in 0..MAX_DOCUMENTS + 5 {
            cache.parse(&mut async_graphql::Request::new(format!(
                "{{ a{i}: me {{ id }} }}"
            )));
        }
        assert!(cache.lock().len() <= MAX_DOCUMENTS);

        let fresh = DocumentCache::default();
        let long = format!("{{ me {{ id }} }}{}", " ".repeat(MAX_SOURCE));
        fresh.parse(&mut async_graphql::Request::new(long));
        assert!(fresh.lock().is_empty(), "long documents are not kept");
    }
}
