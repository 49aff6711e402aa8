//! Categories and tags. A torrent has at most one category (its record's
//! `category`) and any number of tags (its record's `labels`); the lists of both, and
//! each category's save path, are kept in the front's state file. A category or tag
//! that a record names but the list lacks (set through the native API, say) is
//! listed too. Every change is answered once the state file and the records it
//! touched are written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use super::torrents::split_tags;
use super::{Call, Category, Handled, MAX_NAMES, conflict, json, not_found, pick, valid_name};
use crate::api::ApiError;
use crate::api::service::{ApiAnswer, ApiService};
use crate::engine::Engine;
use crate::types::InfoHash;

/// The changing endpoints (POST only).
pub(super) const ENDPOINTS: [&str; 8] = [
    "createCategory",
    "editCategory",
    "removeCategories",
    "setCategory",
    "createTags",
    "deleteTags",
    "addTags",
    "removeTags",
];

/// One category as `torrents/categories` and `sync/maindata` give it.
#[derive(Serialize, Clone, PartialEq, Eq, Debug)]
pub(super) struct CategoryOut<'a> {
    pub name: &'a str,
    #[serde(rename = "savePath")]
    pub save_path: &'a str,
}

/// Every category: the list's, and those only records name.
pub(super) fn all_categories(api: &ApiService) -> BTreeMap<&str, CategoryOut<'_>> {
    let mut out: BTreeMap<&str, CategoryOut> = api
        .qbt
        .categories
        .iter()
        .map(|(n, c)| {
            (
                n.as_str(),
                CategoryOut {
                    name: n,
                    save_path: &c.save_path,
                },
            )
        })
        .collect();
    for e in api.entries.values() {
        if let Some(c) = e.record.category.as_deref() {
            out.entry(c).or_insert(CategoryOut {
                name: c,
                save_path: "",
            });
        }
    }
    out
}

/// Every tag: the list's, and those only records carry.
pub(super) fn all_tags(api: &ApiService) -> BTreeSet<&str> {
    let mut out: BTreeSet<&str> = api.qbt.tags.iter().map(String::as_str).collect();
    for e in api.entries.values() {
        out.extend(e.record.labels.iter().map(String::as_str));
    }
    out
}

/// A category save path: absolute, or relative to the daemon's data directory.
fn category_path(api: &ApiService, given: &str) -> Result<String, ApiError> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(String::new());
    }
    let path = api.setup.data_dir.join(PathBuf::from(given));
    api.check_path("savePath", &path)?;
    Ok(path.to_string_lossy().into_owned())
}

/// `torrents/NAME` for the category and tag endpoints.
pub(super) fn handle(
    api: &mut ApiService,
    engine: &mut Engine,
    call: &Call<'_>,
    name: &str,
) -> Handled {
    let keep_alive = call.keep_alive();
    let p = &call.params;
    let mut touched: Vec<InfoHash> = Vec::new();
    match name {
        "categories" => return json(&all_categories(api), keep_alive),
        "tags" => return json(&all_tags(api), keep_alive),
        "createCategory" | "editCategory" => {
            let category = p.require("category")?.trim();
            if category.is_empty() {
                return Err(ApiError::bad("Category cannot be empty"));
            }
            if !valid_name(category, false) {
                return Err(conflict("Incorrect category name"));
            }
            let save_path = category_path(api, p.get("savePath").unwrap_or(""))?;
            let exists = api.qbt.categories.contains_key(category);
            if name == "createCategory" && (exists || api.qbt.categories.len() >= MAX_NAMES) {
                return Err(conflict("Unable to create category"));
            }
            if name == "editCategory" && !exists {
                return Err(conflict("Unable to edit category"));
            }
            api.qbt
                .categories
                .insert(category.to_string(), Category { save_path });
        }
        "removeCategories" => {
            let names: Vec<&str> = p
                .require("categories")?
                .split('\n')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            for n in &names {
                api.qbt.categories.remove(*n);
            }
            for (h, e) in api.entries.iter_mut() {
                if e.record
                    .category
                    .as_deref()
                    .is_some_and(|c| names.contains(&c))
                {
                    e.record.category = None;
                    touched.push(*h);
                }
            }
        }
        "setCategory" => {
            let category = p.require("category")?.trim();
            if !category.is_empty() && !all_categories(api).contains_key(category) {
                return Err(conflict("Incorrect category name"));
            }
            for (h, _) in pick(api, engine, p.require("hashes")?) {
                if let Some(e) = api.entries.get_mut(&h) {
                    e.record.category = (!category.is_empty()).then(|| category.to_string());
                    touched.push(h);
                }
            }
        }
        "createTags" | "addTags" => {
            let tags: Vec<String> = split_tags(p.require("tags")?)
                .into_iter()
                .filter(|t| valid_name(t, true))
                .collect();
            if api.qbt.tags.len() + tags.len() > MAX_NAMES {
                return Err(conflict("too many tags"));
            }
            api.qbt.tags.extend(tags.iter().cloned());
            if name == "addTags" {
                for (h, _) in pick(api, engine, p.require("hashes")?) {
                    if let Some(e) = api.entries.get_mut(&h) {
                        for t in &tags {
                            if !e.record.labels.contains(t) {
                                e.record.labels.push(t.clone());
                            }
                        }
                        touched.push(h);
                    }
                }
            }
        }
        "deleteTags" | "removeTags" => {
            let tags = split_tags(p.require("tags").or_else(|e| {
                // removeTags without tags takes every tag off the torrents.
                if name == "removeTags" { Ok("") } else { Err(e) }
            })?);
            let targets: Vec<InfoHash> = if name == "deleteTags" {
                for t in &tags {
                    api.qbt.tags.remove(t);
                }
                api.entries.keys().copied().collect()
            } else {
                pick(api, engine, p.require("hashes")?)
                    .into_iter()
                    .map(|(h, _)| h)
                    .collect()
            };
            for h in targets {
                if let Some(e) = api.entries.get_mut(&h) {
                    let before = e.record.labels.len();
                    if tags.is_empty() {
                        e.record.labels.clear();
                    } else {
                        e.record.labels.retain(|l| !tags.contains(l));
                    }
                    if e.record.labels.len() != before {
                        touched.push(h);
                    }
                }
            }
        }
        _ => return Err(not_found()),
    }
    let file = api.qbt.file(&api.setup.state_dir);
    let answer = super::text(200, "", keep_alive);
    api.persist_many(engine, &touched, Some(file), Some(call.reply()), answer);
    Ok(ApiAnswer::Later)
}
