//! Go's `text/tabwriter` (the subset Docker uses: left alignment, space padding), so tables line up
//! exactly as `docker` prints them.
//!
//! Cells are tab-terminated; the text after a line's last tab is not part of any column. A column
//! block is a run of consecutive lines that all have a cell in that column; each block is as wide
//! as its widest cell plus `padding`, but at least `min_width`.

/// Tabwriter settings; Docker's tables use `min_width 10, padding 3`, `version` uses `20, 1`.
#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    pub min_width: usize,
    pub padding: usize,
}

/// Docker's table writer: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
pub const TABLE: TabWriter = TabWriter {
    min_width: 10,
    padding: 3,
};

impl TabWriter {
    /// Aligns `text` (lines separated by `\n`, cells by `\t`).
    pub fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    fn format_block(
        &self,
        lines: &[Vec<&str>],
        line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut start = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A cell exists in this column: print the lines before the block, then size the block.
            self.write_lines(lines, start, this, widths, out);
            start = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                let w = cell_width(lines[this][column]) + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, start, this, widths, out);
            widths.pop();
            start = this;
        }
        self.write_lines(lines, start, line1, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        line0: usize,
        line1: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() && j + 1 < line.len() {
                    let pad = widths[j].saturating_sub(cell_width(cell));
                    out.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < lines.len() {
                out.push('\n');
            }
        }
    }
}

fn cell_width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_table_min_width_and_padding() {
        let text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\tabcdef123456\t2 hours ago\t4.26MB\n";
        let want = "\
REPOSITORY   TAG       IMAGE ID       CREATED       SIZE
busybox      latest    abcdef123456   2 hours ago   4.26MB
";
        assert_eq!(TABLE.format(text), want);
    }

    #[test]
    fn last_cell_is_not_padded_and_unicode_counts_runes() {
        let text = "a\tb\nccc…\td\n";
        let tw = TabWriter {
            min_width: 0,
            padding: 1,
        };
        assert_eq!(tw.format(text), "a    b\nccc… d\n");
    }

    #[test]
    fn lines_without_tabs_end_column_blocks() {
        let tw = TabWriter {
            min_width: 0,
            padding: 1,
        };
        let text = "x:\t1\nlonger key:\t2\nbreak\ny:\t3\n";
        assert_eq!(
            tw.format(text),
            "x:          1\nlonger key: 2\nbreak\ny: 3\n"
        );
    }

    #[test]
    fn nested_blocks() {
        let tw = TabWriter {
            min_width: 0,
            padding: 1,
        };
        // The second column block only spans the first two lines.
        let text = "a\tb\tc\naa\tbb\tcc\naaa\tz\n";
        assert_eq!(tw.format(text), "a   b  c\naa  bb cc\naaa z\n");
    }
}
