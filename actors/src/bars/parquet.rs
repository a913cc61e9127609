//! Bars as a Parquet file (`data export --format parquet`), for pandas and polars users: one
//! row group, uncompressed, columns `timestamp` (the bar's open time, `TIMESTAMP(MILLIS, UTC)`),
//! `open`, `high`, `low`, `close`, `volume` (`DOUBLE`), all required.

use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::StoredBar;

/// The file's schema.
const SCHEMA: &str = "message bars {
    required int64 timestamp (TIMESTAMP(MILLIS, true));
    required double open;
    required double high;
    required double low;
    required double close;
    required double volume;
}";

/// Why a Parquet file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// The file.
    #[error("{path}: {message}")]
    File {
        /// Which.
        path: String,
        /// What went wrong.
        message: String,
    },
}

fn error(path: &Path, e: impl std::fmt::Display) -> ParquetError {
    ParquetError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Writes `bars` to `path` (replaced whole: written beside it, then renamed).
///
/// # Errors
/// The file cannot be written.
pub fn write(path: &Path, bars: &[StoredBar]) -> Result<(), ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| error(path, e))?);
    let partial = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&partial).map_err(|e| error(&partial, e))?;
    let properties = Arc::new(WriterProperties::builder().build());
    let mut writer =
        SerializedFileWriter::new(file, schema, properties).map_err(|e| error(path, e))?;
    let mut group = writer.next_row_group().map_err(|e| error(path, e))?;
    let times: Vec<i64> = bars.iter().map(|b| b.open_time * 1000).collect();
    let prices: [fn(&StoredBar) -> f64; 5] =
        [|b| b.open, |b| b.high, |b| b.low, |b| b.close, |b| b.volume];
    let mut column = 0;
    while let Some(mut c) = group.next_column().map_err(|e| error(path, e))? {
        if column == 0 {
            c.typed::<Int64Type>()
                .write_batch(&times, None, None)
                .map_err(|e| error(path, e))?;
        } else {
            let values: Vec<f64> = bars.iter().map(prices[column - 1]).collect();
            c.typed::<DoubleType>()
                .write_batch(&values, None, None)
                .map_err(|e| error(path, e))?;
        }
        c.close().map_err(|e| error(path, e))?;
        column += 1;
    }
    group.close().map_err(|e| error(path, e))?;
    let file = writer.into_inner().map_err(|e| error(path, e))?;
    file.sync_all().map_err(|e| error(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| error(path, e))
}

/// The bars of a file [`write`] wrote (open time in unix seconds).
///
/// # Errors
/// The file cannot be read, or is not of this schema.
pub fn read(path: &Path) -> Result<Vec<StoredBar>, ParquetError> {
    let reader = SerializedFileReader::try_from(path).map_err(|e| error(path, e))?;
    let mut bars = Vec::new();
    for row in reader.get_row_iter(None).map_err(|e| error(path, e))? {
        let row = row.map_err(|e| error(path, e))?;
        use parquet::record::RowAccessor;
        let num = |i: usize| row.get_double(i).map_err(|e| error(path, e));
        bars.push(StoredBar {
            open_time: row.get_timestamp_millis(0).map_err(|e| error(path, e))? / 1000,
            open: num(1)?,
            high: num(2)?,
            low: num(3)?,
            close: num(4)?,
            volume: num(5)?,
        });
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_written_to_parquet_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.parquet");
        let bars: Vec<StoredBar> = (0..1_000)
            .map(|i| StoredBar {
                open_time: 1_700_000_000 + 60 * i,
                open: 100.0 + i as f64 / 7.0,
                high: 101.0 + i as f64 / 7.0,
                low: 99.0 + i as f64 / 7.0,
                close: 100.5 + i as f64 / 3.0,
                volume: 0.1 * i as f64,
            })
            .collect();
        write(&path, &bars).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
        assert_eq!(read(&path).unwrap(), bars);
        assert!(!path.with_extension("parquet.partial").exists());
    }
}
