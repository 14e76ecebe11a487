//! The run's inventory items, kept on disk until the run's end. A snapshot's time is known only
//! once every file of the run was read (it is inferred from the NACL changes it reflects), so its
//! items wait; they wait in an unnamed file beside the run's staged files, not in memory, so a
//! large snapshot costs the ingest no more memory than a small one.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::decode::inventory::{InvItem, kind_named};
use crate::error::{Error, Result};

/// Inventory items written as they come, read back in order.
#[derive(Default)]
pub struct InventorySpill {
    /// Where the file is made (the run's staging folder); the system's temporary folder when unset.
    pub dir: Option<PathBuf>,
    file: Option<BufWriter<File>>,
    items: u64,
}

/// One item as written: the file it came from and the item.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    file: std::borrow::Cow<'a, str>,
    kind: std::borrow::Cow<'a, str>,
    resource_id: Option<String>,
    account_id: Option<String>,
    region: Option<String>,
    vpc_id: Option<String>,
    item: String,
    captured: Option<i64>,
}

impl InventorySpill {
    fn where_(&self) -> String {
        match &self.dir {
            Some(d) => d.display().to_string(),
            None => std::env::temp_dir().display().to_string(),
        }
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Internal(format!("cannot keep the run's inventory in a temporary file in {}: {e}", self.where_()))
    }

    /// Keep `items`, from the file `source`.
    pub fn add(&mut self, source: &str, items: Vec<InvItem>) -> Result<()> {
        if self.file.is_none() {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            let made = super::source::temporary_file(&dir);
            self.file = Some(BufWriter::with_capacity(1 << 20, made.map_err(|e| self.io(e))?));
        }
        for it in items {
            let line = Line {
                file: source.into(),
                kind: it.kind.into(),
                resource_id: it.resource_id,
                account_id: it.account_id,
                region: it.region,
                vpc_id: it.vpc_id,
                item: it.item,
                captured: it.captured,
            };
            let Some(out) = self.file.as_mut() else { break };
            let written = serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from);
            written.and_then(|()| out.write_all(b"\n")).map_err(|e| self.io(e))?;
            self.items += 1;
        }
        Ok(())
    }

    /// Items kept.
    pub fn len(&self) -> u64 {
        self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Every item kept, in order, with the file it came from.
    pub fn for_each(&mut self, mut f: impl FnMut(&str, InvItem) -> Result<()>) -> Result<()> {
        let Some(out) = self.file.as_mut() else {
            return Ok(());
        };
        let flushed = out.flush();
        flushed.map_err(|e| self.io(e))?;
        let Some(out) = self.file.as_ref() else {
            return Ok(());
        };
        // A second handle on the same file: it shares the position, which ends where writing would
        // go on.
        let mut read = out.get_ref().try_clone().map_err(|e| self.io(e))?;
        read.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
        let mut reader = BufReader::with_capacity(1 << 20, read);
        let mut text = String::new();
        loop {
            text.clear();
            if reader.read_line(&mut text).map_err(|e| self.io(e))? == 0 {
                return Ok(());
            }
            let line: Line<'_> = serde_json::from_str(text.trim_end()).map_err(|e| {
                Error::Internal(format!("the run's inventory, kept in {}, reads back wrong: {e}", self.where_()))
            })?;
            let Some(kind) = kind_named(&line.kind) else {
                return Err(Error::Internal(format!("the run's inventory reads back an unknown kind {:?}", line.kind)));
            };
            let item = InvItem {
                kind,
                resource_id: line.resource_id,
                account_id: line.account_id,
                region: line.region,
                vpc_id: line.vpc_id,
                item: line.item,
                captured: line.captured,
            };
            f(&line.file, item)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_as_kept() {
        let mut spill = InventorySpill::default();
        let item = |id: &str, kind: &'static str| InvItem {
            kind,
            resource_id: Some(id.into()),
            account_id: Some("111111111111".into()),
            region: None,
            vpc_id: Some("vpc-1".into()),
            item: format!(r#"{{"Id":"{id}","Note":"a \"quoted\" value\nand a line"}}"#),
            captured: if kind == "subnets" { Some(5) } else { None },
        };
        spill.add("a.json", vec![item("acl-1", "network_acls"), item("subnet-1", "subnets")]).unwrap();
        spill.add("b/c.json", vec![item("eni-1", "network_interfaces")]).unwrap();
        assert_eq!(spill.len(), 3);
        let mut got = Vec::new();
        spill
            .for_each(|file, it| {
                got.push((file.to_string(), it.kind, it.resource_id.clone().unwrap(), it.item.clone(), it.captured));
                Ok(())
            })
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "a.json");
        assert_eq!(got[1], ("a.json".into(), "subnets", "subnet-1".into(), item("subnet-1", "subnets").item, Some(5)));
        assert_eq!(got[2].0, "b/c.json");
        // Read twice, and added to after reading: still whole and in order.
        spill.add("d.json", vec![item("vpc-1", "vpcs")]).unwrap();
        let mut ids = Vec::new();
        spill
            .for_each(|_, it| {
                ids.push(it.resource_id.unwrap());
                Ok(())
            })
            .unwrap();
        assert_eq!(ids, ["acl-1", "subnet-1", "eni-1", "vpc-1"]);
    }
}
