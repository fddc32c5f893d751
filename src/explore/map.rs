//! The topic map as SVG: one dot per pair at its place on the first two principal components,
//! coloured by topic and labelled with its title, with a legend of topic labels.
//!
//! The only user of plotters, and only of its SVG backend: no fonts, no bitmap, nothing
//! fetched at build time. The SVG has no font metrics, so text widths are estimated and labels
//! are placed greedily around their points (see `place_labels`).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::topics::Topics;
use crate::error::{Error, IoContext, Result};

const MAP_WIDTH: u32 = 1400;
const MAP_HEIGHT: u32 = 900;
/// Width of the legend column at the right.
const LEGEND_WIDTH: i32 = 380;
/// Font sizes in pixels as drawn.
const LABEL_FONT: f64 = 11.0;
const LEGEND_FONT: f64 = 13.0;
const TITLE_FONT: f64 = 15.0;
/// plotters' SVG backend writes a font of size s as `font-size="s / 1.24"`.
const PLOTTERS_FONT_SCALE: f64 = 1.24;
/// Radius of a point on a labelled map; large maps get smaller, translucent points.
const POINT_RADIUS: i32 = 5;
/// Above this many pairs points are not labelled: the legend and colours still tell topics apart.
const MAX_LABELLED: usize = 200;

/// Distinct colours for the first topics (Tableau 10 and a few more); later ones get hues.
const PALETTE: [(u8, u8, u8); 12] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 128),
    (128, 128, 0),
];

fn topic_colour(topic: usize) -> RGBColor {
    if let Some(&(r, g, b)) = PALETTE.get(topic) {
        return RGBColor(r, g, b);
    }
    // Golden-ratio steps around the hue circle keep consecutive topics apart.
    let (r, g, b) = HSLColor((topic as f64 * 0.618_034).fract(), 0.65, 0.45)
        .to_backend_color()
        .rgb;
    RGBColor(r, g, b)
}

/// Writes the topic map as SVG to `path`; see [`map_svg`].
pub fn draw_map(topics: &Topics, path: &Path) -> Result<()> {
    let svg = map_svg(topics)?;
    std::fs::write(path, svg).context(|| format!("cannot write the map to {}", path.display()))
}

/// The topic map as an SVG document: one dot per pair at its place on the first two principal
/// components, coloured by topic and labelled with its title, with a legend of topic labels.
pub fn map_svg(topics: &Topics) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (MAP_WIDTH, MAP_HEIGHT)).into_drawing_area();
        render(topics, &root).map_err(|e| Error::Map(e.to_string()))?;
        root.present().map_err(|e| Error::Map(e.to_string()))?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// An axis-aligned box in pixels: left, top, right, bottom.
type Box2 = (f64, f64, f64, f64);

fn overlap(a: Box2, b: Box2) -> f64 {
    let w = (a.2.min(b.2) - a.0.max(b.0)).max(0.0);
    let h = (a.3.min(b.3) - a.1.max(b.1)).max(0.0);
    w * h
}

/// Rough width of a text in pixels for a sans-serif font: the SVG has no font metrics.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.56
}

fn render(topics: &Topics, root: &Area) -> DrawResult {
    root.fill(&WHITE)?;
    let n = topics.points.len();
    let font = |px: f64| ("sans-serif", px * PLOTTERS_FONT_SCALE).into_font();
    root.draw(&Text::new(
        format!(
            "{} pairs, {} topics (first two principal components of the pair vectors)",
            n,
            topics.topics.len()
        ),
        (20, 14),
        font(TITLE_FONT).color(&BLACK),
    ))?;

    // The plot region, with room for labels to the right of the rightmost points.
    let labelled = n <= MAX_LABELLED;
    let (left, top) = (30.0, 50.0);
    let right = f64::from(MAP_WIDTH as i32 - LEGEND_WIDTH) - if labelled { 150.0 } else { 30.0 };
    let bottom = f64::from(MAP_HEIGHT) - 30.0;
    let (min_x, max_x) = bounds(topics.points.iter().map(|p| p.x));
    let (min_y, max_y) = bounds(topics.points.iter().map(|p| p.y));
    let place = |x: f32, y: f32| -> (f64, f64) {
        let fx = if max_x > min_x {
            (f64::from(x) - min_x) / (max_x - min_x)
        } else {
            0.5
        };
        let fy = if max_y > min_y {
            (f64::from(y) - min_y) / (max_y - min_y)
        } else {
            0.5
        };
        (left + fx * (right - left), bottom - fy * (bottom - top))
    };
    let positions: Vec<(f64, f64)> = topics.points.iter().map(|p| place(p.x, p.y)).collect();
    root.draw(&Rectangle::new(
        [
            (10, 36),
            (MAP_WIDTH as i32 - LEGEND_WIDTH - 10, MAP_HEIGHT as i32 - 10),
        ],
        RGBColor(220, 220, 220).stroke_width(1),
    ))?;

    // Labels first (placed around the points, avoiding each other), then points on top.
    if labelled {
        let labels = place_labels(topics, &positions);
        for (point, label) in topics.points.iter().zip(labels) {
            let colour = topic_colour(point.topic);
            if let Some((x0, y0)) = label.leader {
                root.draw(&PathElement::new(
                    vec![
                        (x0 as i32, y0 as i32),
                        (label.anchor.0 as i32, label.anchor.1 as i32),
                    ],
                    colour.mix(0.5).stroke_width(1),
                ))?;
            }
            let style = font(LABEL_FONT)
                .color(&RGBColor(40, 40, 40))
                .pos(Pos::new(label.h, VPos::Center));
            root.draw(&Text::new(
                point.title.clone(),
                (label.anchor.0 as i32, label.anchor.1 as i32),
                style,
            ))?;
        }
    }
    let (radius, opacity) = if labelled {
        (POINT_RADIUS, 1.0)
    } else if n <= 2000 {
        (3, 0.8)
    } else {
        (2, 0.6)
    };
    for (point, &(x, y)) in topics.points.iter().zip(&positions) {
        let colour = topic_colour(point.topic).mix(opacity);
        root.draw(&Circle::new((x as i32, y as i32), radius, colour.filled()))?;
    }

    // Legend.
    let legend_x = MAP_WIDTH as i32 - LEGEND_WIDTH + 10;
    let mut y = 50;
    root.draw(&Text::new(
        "Topics".to_string(),
        (legend_x, y),
        font(LEGEND_FONT + 2.0).color(&BLACK),
    ))?;
    y += 24;
    let max_chars = ((f64::from(LEGEND_WIDTH) - 50.0) / (LEGEND_FONT * 0.56)) as usize;
    for (i, topic) in topics.topics.iter().enumerate() {
        if y > MAP_HEIGHT as i32 - 20 {
            root.draw(&Text::new(
                format!("… {} more", topics.topics.len() - i),
                (legend_x, y),
                font(LEGEND_FONT).color(&BLACK),
            ))?;
            break;
        }
        root.draw(&Rectangle::new(
            [(legend_x, y), (legend_x + 14, y + 14)],
            topic_colour(i).filled(),
        ))?;
        let mut text = format!("{} ({})", topic.label, topic.docs.len());
        if text.chars().count() > max_chars {
            text = text
                .chars()
                .take(max_chars.saturating_sub(1))
                .collect::<String>()
                + "…";
        }
        root.draw(&Text::new(
            text,
            (legend_x + 22, y + 7),
            font(LEGEND_FONT)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += 22;
    }
    Ok(())
}

fn bounds(values: impl Iterator<Item = f32>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(f64::from(v)), hi.max(f64::from(v)))
    })
}

struct PlacedLabel {
    anchor: (f64, f64),
    h: HPos,
    /// Where the leader line starts, for labels set away from their point.
    leader: Option<(f64, f64)>,
}

/// Greedy label placement: each label, most crowded point first, takes the first of a ring of
/// candidate spots around its point that overlaps no point and no label placed so far, or the
/// least overlapping one; spots further out get a leader line.
fn place_labels(topics: &Topics, positions: &[(f64, f64)]) -> Vec<PlacedLabel> {
    let n = positions.len();
    let r = f64::from(POINT_RADIUS);
    let height = LABEL_FONT * 1.2;
    let point_boxes: Vec<Box2> = positions
        .iter()
        .map(|&(x, y)| (x - r, y - r, x + r, y + r))
        .collect();
    let crowd = |i: usize| {
        positions
            .iter()
            .filter(|&&(x, y)| (x - positions[i].0).hypot(y - positions[i].1) < 60.0)
            .count()
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(crowd(i)));
    let limit = (
        0.0,
        36.0,
        f64::from(MAP_WIDTH as i32 - LEGEND_WIDTH - 10),
        f64::from(MAP_HEIGHT) - 10.0,
    );
    let mut placed: Vec<Box2> = Vec::new();
    let mut out: Vec<Option<PlacedLabel>> = (0..n).map(|_| None).collect();
    for i in order {
        let (x, y) = positions[i];
        let width = text_width(&topics.points[i].title, LABEL_FONT);
        let mut best: Option<(f64, PlacedLabel, Box2)> = None;
        'rings: for ring in [1.0, 2.2, 3.6] {
            let gap = (r + 3.0) * ring;
            let candidates = [
                (x + gap, y, HPos::Left),
                (x - gap, y, HPos::Right),
                (x, y - gap - height / 2.0, HPos::Center),
                (x, y + gap + height / 2.0, HPos::Center),
                (x + gap * 0.8, y - gap * 0.8 - height / 2.0, HPos::Left),
                (x + gap * 0.8, y + gap * 0.8 + height / 2.0, HPos::Left),
                (x - gap * 0.8, y - gap * 0.8 - height / 2.0, HPos::Right),
                (x - gap * 0.8, y + gap * 0.8 + height / 2.0, HPos::Right),
            ];
            for (ax, ay, h) in candidates {
                let x0 = match h {
                    HPos::Left => ax,
                    HPos::Right => ax - width,
                    HPos::Center => ax - width / 2.0,
                };
                let b = (x0, ay - height / 2.0, x0 + width, ay + height / 2.0);
                let outside = width * height - overlap(b, limit);
                let cost: f64 = placed.iter().map(|&p| overlap(b, p)).sum::<f64>()
                    + point_boxes.iter().map(|&p| overlap(b, p)).sum::<f64>()
                    + outside * 10.0
                    + (ring - 1.0) * 4.0;
                let label = PlacedLabel {
                    anchor: (ax, ay),
                    h,
                    leader: (ring > 1.0).then_some((x, y)),
                };
                let better = best.as_ref().is_none_or(|(c, _, _)| cost < *c);
                if better {
                    best = Some((cost, label, b));
                }
                if cost <= (ring - 1.0) * 4.0 {
                    break 'rings;
                }
            }
        }
        let (_, label, b) = best.expect("candidates exist");
        placed.push(b);
        out[i] = Some(label);
    }
    out.into_iter()
        .map(|l| l.expect("every label placed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::{MapPoint, Topic};

    /// `n` points on a circle, in `k` topics taking turns.
    fn topics(n: usize, k: usize) -> Topics {
        let points: Vec<MapPoint> = (0..n)
            .map(|doc| {
                let angle = doc as f32 / n as f32 * std::f32::consts::TAU;
                MapPoint {
                    doc,
                    id: format!("p{doc}"),
                    title: format!("Titel {doc} & <mehr>"),
                    topic: doc % k,
                    x: angle.cos(),
                    y: angle.sin(),
                }
            })
            .collect();
        let topics = (0..k)
            .map(|t| {
                let docs: Vec<usize> = (t..n).step_by(k).collect();
                Topic {
                    label: format!("Wort{t}, Begriff{t}"),
                    terms: vec![format!("Wort{t}"), format!("Begriff{t}")],
                    members: docs.iter().map(|d| format!("p{d}")).collect(),
                    docs,
                }
            })
            .collect();
        Topics {
            topics,
            near_duplicates: Vec::new(),
            silhouette: 0.0,
            modularity: 0.0,
            points,
        }
    }

    /// The texts of an SVG document, as written (escaped).
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect()
    }

    #[test]
    fn a_small_map_labels_every_point_and_topic() {
        let svg = map_svg(&topics(12, 3)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 12);
        let texts = texts(&svg);
        for doc in 0..12 {
            let title = format!("Titel {doc} &amp; &lt;mehr&gt;");
            assert!(texts.contains(&title.as_str()), "{title}");
        }
        for t in 0..3 {
            let entry = format!("Wort{t}, Begriff{t} (4)");
            assert!(texts.contains(&entry.as_str()), "{entry}");
        }
        assert_eq!(svg, map_svg(&topics(12, 3)).unwrap());
    }

    #[test]
    fn a_large_map_has_points_without_labels_and_a_cut_legend() {
        let svg = map_svg(&topics(MAX_LABELLED + 1, 60)).unwrap();
        assert_eq!(svg.matches("<circle").count(), MAX_LABELLED + 1);
        assert!(!svg.contains("Titel"));
        let texts = texts(&svg);
        let shown = texts.iter().filter(|t| t.starts_with("Wort")).count();
        assert!(shown < 60, "all of the legend fits");
        let cut = format!("… {} more", 60 - shown);
        assert!(texts.contains(&cut.as_str()), "{texts:?}");
    }

    #[test]
    fn labels_avoid_each_other_where_there_is_room() {
        let topics = topics(8, 2);
        // Eight points far apart: every label fits next to its point.
        let positions: Vec<(f64, f64)> = (0..8)
            .map(|i| (100.0 + 100.0 * i as f64, 100.0 + 80.0 * (i % 3) as f64))
            .collect();
        let labels = place_labels(&topics, &positions);
        assert!(labels.iter().all(|l| l.leader.is_none()));
        // The same place for all: later labels move out, with leader lines.
        let crowded = vec![(400.0, 400.0); 8];
        let labels = place_labels(&topics, &crowded);
        assert!(labels.iter().any(|l| l.leader.is_some()));
    }

    #[test]
    fn boxes_overlap_by_their_common_area() {
        assert_eq!(overlap((0.0, 0.0, 2.0, 2.0), (1.0, 1.0, 3.0, 3.0)), 1.0);
        assert_eq!(overlap((0.0, 0.0, 1.0, 1.0), (2.0, 2.0, 3.0, 3.0)), 0.0);
    }

    #[test]
    fn topic_colours_are_distinct() {
        let colours: Vec<(u8, u8, u8)> = (0..40)
            .map(|t| {
                let c = topic_colour(t);
                (c.0, c.1, c.2)
            })
            .collect();
        for (i, a) in colours.iter().enumerate() {
            assert!(!colours[i + 1..].contains(a), "topic {i}");
        }
    }
}
