//! Graph pictures as PNG: layout-rs lays the graph out and draws it through
//! [`RenderBackend`]; [`Recorder`] keeps the shapes and their bounds, and they are painted with
//! plotters' bitmap backend, labels in the DejaVu Sans font shipped in `assets/` (no system
//! fonts, no graphviz).

use std::path::Path;
use std::sync::OnceLock;

use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// DejaVu Sans (its licence is in `assets/DejaVuSans-LICENSE.txt`).
pub const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The longest side of a picture, in pixels; larger layouts are scaled down to fit.
const MAX_SIDE: f64 = 8192.0;
/// The blank border around the drawing, in layout units.
const MARGIN: f64 = 10.0;

/// Registers [`FONT`] as plotters' `sans-serif`, once.
fn font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "the shipped font is not a valid TrueType font".to_string())
    })
    .clone()
}

/// One recorded shape, in layout coordinates.
enum Shape {
    Rect {
        xy: Point,
        size: Point,
        look: StyleAttr,
    },
    Line {
        a: Point,
        b: Point,
        look: StyleAttr,
    },
    Ellipse {
        center: Point,
        size: Point,
        look: StyleAttr,
    },
    Text {
        xy: Point,
        text: String,
        look: StyleAttr,
    },
    Curve {
        points: Vec<(f64, f64)>,
        dashed: bool,
        heads: (bool, bool),
        look: StyleAttr,
    },
}

/// A [`RenderBackend`] that keeps what it is asked to draw.
#[derive(Default)]
struct Recorder {
    shapes: Vec<Shape>,
    min: (f64, f64),
    max: (f64, f64),
    seen: bool,
}

impl Recorder {
    fn grow(&mut self, p: Point) {
        if !self.seen {
            self.min = (p.x, p.y);
            self.max = (p.x, p.y);
            self.seen = true;
        }
        self.min = (self.min.0.min(p.x), self.min.1.min(p.y));
        self.max = (self.max.0.max(p.x), self.max.1.max(p.y));
    }
}

/// The points of the cubic Bézier from `p0` to `p3` with controls `p1`, `p2`.
fn bezier(p0: Point, p1: Point, p2: Point, p3: Point, out: &mut Vec<(f64, f64)>) {
    const STEPS: usize = 16;
    for k in 1..=STEPS {
        let t = k as f64 / STEPS as f64;
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        out.push((
            a * p0.x + b * p1.x + c * p2.x + d * p3.x,
            a * p0.y + b * p1.y + c * p2.y + d * p3.y,
        ));
    }
}

impl RenderBackend for Recorder {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        _: Option<String>,
        _: Option<ClipHandle>,
    ) {
        self.grow(xy);
        self.grow(Point::new(xy.x + size.x, xy.y + size.y));
        self.shapes.push(Shape::Rect {
            xy,
            size,
            look: look.clone(),
        });
    }

    fn draw_line(&mut self, a: Point, b: Point, look: &StyleAttr, _: Option<String>) {
        self.grow(a);
        self.grow(b);
        self.shapes.push(Shape::Line {
            a,
            b,
            look: look.clone(),
        });
    }

    fn draw_circle(&mut self, center: Point, size: Point, look: &StyleAttr, _: Option<String>) {
        self.grow(Point::new(center.x - size.x / 2.0, center.y - size.y / 2.0));
        self.grow(Point::new(center.x + size.x / 2.0, center.y + size.y / 2.0));
        self.shapes.push(Shape::Ellipse {
            center,
            size,
            look: look.clone(),
        });
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        self.shapes.push(Shape::Text {
            xy,
            text: text.to_string(),
            look: look.clone(),
        });
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        heads: (bool, bool),
        look: &StyleAttr,
        _: Option<String>,
        _: &str,
    ) {
        // SVG's `M p0 C c1 c2 p1 S c2 p2 …` (layout-rs's SVG writer): the first pair is the
        // start and its control, each later pair a control and an end point; an `S` segment's
        // first control mirrors the previous segment's second about their common point.
        if path.len() < 2 {
            return;
        }
        for (a, b) in path {
            self.grow(*a);
            self.grow(*b);
        }
        let mut points = vec![(path[0].0.x, path[0].0.y)];
        bezier(path[0].0, path[0].1, path[1].0, path[1].1, &mut points);
        let (mut prev_c2, mut prev_end) = (path[1].0, path[1].1);
        for (c2, end) in &path[2..] {
            let c1 = Point::new(2.0 * prev_end.x - prev_c2.x, 2.0 * prev_end.y - prev_c2.y);
            bezier(prev_end, c1, *c2, *end, &mut points);
            (prev_c2, prev_end) = (*c2, *end);
        }
        self.shapes.push(Shape::Curve {
            points,
            dashed,
            heads,
            look: look.clone(),
        });
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

/// `color` as plotters' RGBA.
fn rgba(color: Color) -> RGBAColor {
    let hex = color.to_web_color();
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0xff);
    let [r, g, b, a] = v.to_be_bytes();
    RGBAColor(r, g, b, f64::from(a) / 255.0)
}

/// An arrowhead at `tip`, pointing away from `from`.
fn arrowhead(from: (f64, f64), tip: (f64, f64), size: f64) -> Vec<(f64, f64)> {
    let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
    let len = dx.hypot(dy).max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let base = (tip.0 - ux * size, tip.1 - uy * size);
    let half = size * 0.35;
    vec![
        tip,
        (base.0 - uy * half, base.1 + ux * half),
        (base.0 + uy * half, base.1 - ux * half),
    ]
}

/// Lays out DOT text and paints it into a PNG at `path`.
pub(crate) fn dot_to_png(dot: &str, path: &Path) -> Result<(), String> {
    font()?;
    let mut graph = crate::draw::layout(dot)?;
    let mut rec = Recorder::default();
    graph.do_it(false, false, false, &mut rec);
    let (w, h) = (
        rec.max.0 - rec.min.0 + 2.0 * MARGIN,
        rec.max.1 - rec.min.1 + 2.0 * MARGIN,
    );
    let scale = (MAX_SIDE / w.max(h)).min(1.0);
    let size = (
        ((w * scale).ceil() as u32).max(1),
        ((h * scale).ceil() as u32).max(1),
    );
    let at = |x: f64, y: f64| -> (i32, i32) {
        (
            ((x - rec.min.0 + MARGIN) * scale).round() as i32,
            ((y - rec.min.1 + MARGIN) * scale).round() as i32,
        )
    };
    let stroke = |look: &StyleAttr| -> ShapeStyle {
        ShapeStyle {
            color: rgba(look.line_color),
            filled: false,
            stroke_width: ((look.line_width as f64 * scale).round() as u32).max(1),
        }
    };
    let fill = |look: &StyleAttr| -> Option<ShapeStyle> {
        look.fill_color
            .map(rgba)
            .filter(|c| c.3 > 0.0)
            .map(|c| ShapeStyle {
                color: c,
                filled: true,
                stroke_width: 0,
            })
    };
    let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    for shape in &rec.shapes {
        match shape {
            Shape::Rect { xy, size, look } => {
                let corners = [at(xy.x, xy.y), at(xy.x + size.x, xy.y + size.y)];
                if let Some(f) = fill(look) {
                    root.draw(&Rectangle::new(corners, f))
                        .map_err(|e| err(&e))?;
                }
                root.draw(&Rectangle::new(corners, stroke(look)))
                    .map_err(|e| err(&e))?;
            }
            Shape::Line { a, b, look } => {
                let pts = vec![at(a.x, a.y), at(b.x, b.y)];
                root.draw(&PathElement::new(pts, stroke(look)))
                    .map_err(|e| err(&e))?;
            }
            Shape::Ellipse { center, size, look } => {
                let pts: Vec<(i32, i32)> = (0..48)
                    .map(|k| {
                        let t = k as f64 / 48.0 * std::f64::consts::TAU;
                        at(
                            center.x + size.x / 2.0 * t.cos(),
                            center.y + size.y / 2.0 * t.sin(),
                        )
                    })
                    .collect();
                if let Some(f) = fill(look) {
                    root.draw(&Polygon::new(pts.clone(), f))
                        .map_err(|e| err(&e))?;
                }
                let mut ring = pts;
                ring.push(ring[0]);
                root.draw(&PathElement::new(ring, stroke(look)))
                    .map_err(|e| err(&e))?;
            }
            Shape::Text { xy, text, look } => {
                let px = (look.font_size as f64 * scale).max(1.0);
                let lines: Vec<&str> = text.lines().collect();
                let color = rgba(look.line_color);
                let style = TextStyle::from(("sans-serif", px).into_font())
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                for (k, line) in lines.iter().enumerate() {
                    // Lines centred on `xy` together, one font size apart.
                    let dy = (k as f64 - (lines.len() as f64 - 1.0) / 2.0) * look.font_size as f64;
                    root.draw(&Text::new(line.to_string(), at(xy.x, xy.y + dy), &style))
                        .map_err(|e| err(&e))?;
                }
            }
            Shape::Curve {
                points,
                dashed,
                heads,
                look,
            } => {
                let pts: Vec<(i32, i32)> = points.iter().map(|(x, y)| at(*x, *y)).collect();
                if *dashed {
                    let d = ((5.0 * scale).round() as u32).max(1);
                    root.draw(&DashedPathElement::new(
                        pts.iter().copied(),
                        d,
                        d,
                        stroke(look),
                    ))
                    .map_err(|e| err(&e))?;
                } else {
                    root.draw(&PathElement::new(pts, stroke(look)))
                        .map_err(|e| err(&e))?;
                }
                let head = 10.0 * look.line_width.max(1) as f64;
                let n = points.len();
                let mut tips = Vec::new();
                if heads.1 && n >= 2 {
                    tips.push((points[n - 2], points[n - 1]));
                }
                if heads.0 && n >= 2 {
                    tips.push((points[1], points[0]));
                }
                for (from, tip) in tips {
                    let tri: Vec<(i32, i32)> = arrowhead(from, tip, head)
                        .iter()
                        .map(|(x, y)| at(*x, *y))
                        .collect();
                    let style = ShapeStyle {
                        color: rgba(look.line_color),
                        filled: true,
                        stroke_width: 0,
                    };
                    root.draw(&Polygon::new(tri, style)).map_err(|e| err(&e))?;
                }
            }
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
