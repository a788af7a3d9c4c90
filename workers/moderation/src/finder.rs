//! A cheap screen for QR codes: look for finder patterns (the three nested
//! squares in a code's corners) before running the full decoder.
//!
//! Most live frames carry no QR code, and the full detector (`rqrr`) floods
//! every dark region of a textured photo looking for them, which costs far
//! more than the rest of the moderation hints. A finder pattern crossed by
//! any straight line through its centre gives dark and light runs in the
//! proportions 1:1:3:1:1, whatever the code's rotation; a few linear scans
//! of a binarised plane find such crossings, and a vertical scan through
//! each candidate's centre confirms it (the approach of ZXing's
//! `FinderPatternFinder`). Only a frame with three confirmed patterns of
//! similar module size placed as a code places them (the corners of a
//! right isosceles triangle, allowing for some perspective) goes to the
//! decoder.
//!
//! Binarisation is adaptive (Bradley and Roth): a pixel is dark when it is
//! more than [`DARKER_BY_PERCENT`] % below the mean of the square window around it,
//! one eighth of the plane's longer side wide, taken from an integral
//! image, so uneven studio lighting does not hide a code.

/// A pixel is dark when more than this percentage below its
/// neighbourhood's mean.
pub const DARKER_BY_PERCENT: u64 = 15;
const DARK_PERCENT: u64 = 100 - DARKER_BY_PERCENT;
/// Allowed deviation of each run from its ideal length, as a fraction of
/// that length (ZXing uses one half).
const RUN_TOLERANCE: f32 = 0.5;
/// The smallest module (one unit of the 1:1:3:1:1 pattern), in pixels.
const MIN_MODULE: f32 = 1.0;

/// The binarised plane: `true` is dark.
struct Binary {
    dark: Vec<bool>,
    width: usize,
    height: usize,
}

impl Binary {
    fn new(luma: &[u8], width: usize, height: usize) -> Self {
        let stride = width + 1;
        // Summed-area table with a zero row and column in front.
        let mut integral = vec![0u32; stride * (height + 1)];
        for y in 0..height {
            let mut row_sum = 0u32;
            for x in 0..width {
                row_sum += u32::from(luma[y * width + x]);
                integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row_sum;
            }
        }
        let half = (width.max(height) / 16).max(1);
        let mut dark = vec![false; width * height];
        for y in 0..height {
            let (top, bottom) = (y.saturating_sub(half), (y + half + 1).min(height));
            for x in 0..width {
                let (left, right) = (x.saturating_sub(half), (x + half + 1).min(width));
                let sum = integral[bottom * stride + right] + integral[top * stride + left]
                    - integral[top * stride + right]
                    - integral[bottom * stride + left];
                let area = ((bottom - top) * (right - left)) as u64;
                // luma < mean * (1 - DARKER_BY), in integers.
                dark[y * width + x] =
                    u64::from(luma[y * width + x]) * area * 100 < u64::from(sum) * DARK_PERCENT;
            }
        }
        Self {
            dark,
            width,
            height,
        }
    }

    fn at(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }
}

/// Whether five consecutive runs (dark, light, dark, light, dark) have the
/// finder pattern's proportions; returns the module size.
fn finder_ratio(runs: &[usize; 5]) -> Option<f32> {
    let total: usize = runs.iter().sum();
    let module = total as f32 / 7.0;
    if module < MIN_MODULE {
        return None;
    }
    let ideal = [1.0, 1.0, 3.0, 1.0, 1.0];
    runs.iter()
        .zip(ideal)
        .all(|(&run, units)| (run as f32 - units * module).abs() <= units * module * RUN_TOLERANCE)
        .then_some(module)
}

/// Checks the column through a horizontal candidate's centre `(x, y)`:
/// the dark centre run and two alternating runs each way must have the
/// finder proportions too. Returns the centre row.
fn confirm_vertically(binary: &Binary, x: usize, y: usize, max_run: usize) -> Option<f32> {
    if !binary.at(x, y) {
        return None;
    }
    // Length of the run of `dark` pixels from `row` on, stepping by `step`.
    let run = |row: &mut isize, step: isize, dark: bool| {
        let mut length = 0;
        while (0..binary.height as isize).contains(row)
            && binary.at(x, *row as usize) == dark
            && length <= max_run
        {
            length += 1;
            *row += step;
        }
        length
    };
    let (mut up, mut down) = (y as isize, y as isize + 1);
    let centre = run(&mut up, -1, true) + run(&mut down, 1, true);
    let top = up + 1;
    let upper_light = run(&mut up, -1, false);
    let upper_dark = run(&mut up, -1, true);
    let lower_light = run(&mut down, 1, false);
    let lower_dark = run(&mut down, 1, true);
    let runs = [upper_dark, upper_light, centre, lower_light, lower_dark];
    if runs.contains(&0) {
        return None;
    }
    finder_ratio(&runs)?;
    Some(top as f32 + centre as f32 / 2.0)
}

/// A confirmed finder pattern: centre and module size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinderPattern {
    pub x: f32,
    pub y: f32,
    pub module: f32,
}

/// Finder patterns on a `width` x `height` 8-bit luma plane, each reported
/// once (nearby confirmations are merged).
pub fn finder_patterns(luma: &[u8], width: usize, height: usize) -> Vec<FinderPattern> {
    assert_eq!(luma.len(), width * height, "luma plane size");
    if width < 21 || height < 21 {
        return Vec::new();
    }
    let binary = Binary::new(luma, width, height);
    let mut found: Vec<(FinderPattern, u32)> = Vec::new();
    let max_run = width.max(height) / 4;
    for y in 0..height {
        let mut runs = [0usize; 5];
        // Index of the run being counted; runs alternate dark, light, ...
        let mut current = 0usize;
        let mut seen_dark = false;
        for x in 0..=width {
            let dark = x < width && binary.at(x, y);
            if !seen_dark {
                if dark {
                    seen_dark = true;
                    runs[0] = 1;
                }
                continue;
            }
            let expect_dark = current.is_multiple_of(2);
            if x < width && dark == expect_dark {
                runs[current] += 1;
                continue;
            }
            // A run ended at x.
            if current < 4 {
                current += 1;
                runs[current] = usize::from(x < width);
                continue;
            }
            if let Some(module) = finder_ratio(&runs) {
                let centre_x = x as f32 - runs[4] as f32 - runs[3] as f32 - runs[2] as f32 / 2.0;
                let column = (centre_x as usize).min(width - 1);
                if let Some(centre_y) = confirm_vertically(&binary, column, y, max_run) {
                    record(
                        &mut found,
                        FinderPattern {
                            x: centre_x,
                            y: centre_y,
                            module,
                        },
                    );
                }
            }
            // Slide by two runs: the third dark run may start a pattern.
            runs = [runs[2], runs[3], runs[4], usize::from(x < width), 0];
            current = 3;
            if x >= width {
                break;
            }
        }
    }
    found.into_iter().map(|(pattern, _)| pattern).collect()
}

/// Merges a confirmation into a nearby pattern of similar module size, or
/// adds it.
fn record(found: &mut Vec<(FinderPattern, u32)>, candidate: FinderPattern) {
    for (pattern, count) in found.iter_mut() {
        let near = (pattern.x - candidate.x).abs() <= pattern.module * 3.5
            && (pattern.y - candidate.y).abs() <= pattern.module * 3.5;
        let similar =
            (pattern.module - candidate.module).abs() <= pattern.module.max(candidate.module) * 0.5;
        if near && similar {
            let n = *count as f32;
            pattern.x = (pattern.x * n + candidate.x) / (n + 1.0);
            pattern.y = (pattern.y * n + candidate.y) / (n + 1.0);
            pattern.module = (pattern.module * n + candidate.module) / (n + 1.0);
            *count += 1;
            return;
        }
    }
    found.push((candidate, 1));
}

/// At most this many patterns are tried in triples (a pathological frame
/// full of candidates goes to the decoder rather than costing a cubic
/// search here).
const MAX_PATTERNS: usize = 48;

/// Whether the plane may hold a QR code: three finder patterns that could
/// be one code's corners.
pub fn may_hold_qr(luma: &[u8], width: usize, height: usize) -> bool {
    let patterns = finder_patterns(luma, width, height);
    if patterns.len() > MAX_PATTERNS {
        return true;
    }
    let n = patterns.len();
    (0..n).any(|i| {
        (i + 1..n).any(|j| {
            (j + 1..n).any(|k| could_be_one_code(&patterns[i], &patterns[j], &patterns[k]))
        })
    })
}

/// Whether three patterns sit like a code's corner patterns: similar
/// module sizes, two sides of about equal length meeting at about a right
/// angle, and sides between the smallest code (version 1: centres 14
/// modules apart) and the largest (version 40: 170 modules).
fn could_be_one_code(a: &FinderPattern, b: &FinderPattern, c: &FinderPattern) -> bool {
    let modules = [a.module, b.module, c.module];
    let (small, large) = modules
        .iter()
        .fold((f32::MAX, 0f32), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    if large > small * 1.6 {
        return false;
    }
    let module = (a.module + b.module + c.module) / 3.0;
    let distance = |p: &FinderPattern, q: &FinderPattern| (p.x - q.x).hypot(p.y - q.y);
    let mut sides = [distance(a, b), distance(b, c), distance(a, c)];
    sides.sort_by(f32::total_cmp);
    let [short, middle, long] = sides;
    let right_angle = long / short.hypot(middle);
    short >= 10.0 * module
        && middle <= 200.0 * module
        && short >= middle * 0.6
        && (0.85..=1.15).contains(&right_angle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finder pattern of `module`-pixel modules, dark on light, centred
    /// at (cx, cy) on a light plane.
    fn draw_finder(plane: &mut [u8], width: usize, cx: usize, cy: usize, module: usize) {
        for dy in 0..7 * module {
            for dx in 0..7 * module {
                let (mx, my) = (dx / module, dy / module);
                let ring = mx.min(my).min(6 - mx).min(6 - my);
                let dark = ring != 1;
                let x = cx + dx - 7 * module / 2;
                let y = cy + dy - 7 * module / 2;
                plane[y * width + x] = if dark { 20 } else { 230 };
            }
        }
    }

    #[test]
    fn ratios_accept_the_pattern_and_refuse_others() {
        assert_eq!(finder_ratio(&[2, 2, 6, 2, 2]), Some(2.0));
        assert!(finder_ratio(&[3, 2, 7, 2, 3]).is_some());
        assert!(finder_ratio(&[2, 2, 2, 2, 2]).is_none());
        assert!(finder_ratio(&[1, 6, 6, 1, 1]).is_none());
    }

    #[test]
    fn three_patterns_are_found_once_each() {
        let (width, height) = (200, 160);
        let mut plane = vec![230u8; width * height];
        for (cx, cy) in [(40, 40), (140, 40), (40, 120)] {
            draw_finder(&mut plane, width, cx, cy, 4);
        }
        let found = finder_patterns(&plane, width, height);
        assert_eq!(found.len(), 3, "{found:?}");
        for pattern in &found {
            assert!((pattern.module - 4.0).abs() < 1.0, "{pattern:?}");
        }
        assert!(may_hold_qr(&plane, width, height));
    }

    #[test]
    fn three_patterns_in_a_line_are_not_a_code() {
        let (width, height) = (360, 120);
        let mut plane = vec![230u8; width * height];
        for cx in [40, 180, 320] {
            draw_finder(&mut plane, width, cx, 60, 4);
        }
        assert_eq!(finder_patterns(&plane, width, height).len(), 3);
        assert!(!may_hold_qr(&plane, width, height));
    }

    #[test]
    fn flat_and_striped_planes_have_none() {
        let (width, height) = (120, 90);
        assert!(finder_patterns(&vec![128u8; width * height], width, height).is_empty());
        let stripes: Vec<u8> = (0..width * height)
            .map(|i| if (i % width / 3) % 2 == 0 { 20 } else { 230 })
            .collect();
        assert!(!may_hold_qr(&stripes, width, height));
    }
}
