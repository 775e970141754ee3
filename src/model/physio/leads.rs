//! Lead system: the cardiac dipole (Frank X, Y, Z) projected onto the 12 standard leads.
//!
//! Choice: a vectorcardiographic model. Each ECG wave is a dipole with its own direction;
//! leads I, II and V1–V6 are Dower's inverse-transform rows (Dower et al. 1980, XYZ →
//! 12-lead), and III, aVR, aVL, aVF are derived from I and II, so Einthoven's and
//! Goldberger's relations (III = II − I, aVR = −(I+II)/2, aVL = I − II/2,
//! aVF = II − I/2) hold exactly on the clean signal.

/// Frank axes: X to the patient's left, Y to the feet, Z to the back.
pub type Vector = [f64; 3];

const I: Vector = [0.632, -0.235, 0.059];
const II: Vector = [0.235, 1.066, -0.132];
const V: [Vector; 6] = [
    [-0.515, 0.157, -0.917],
    [0.044, 0.164, -1.387],
    [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601],
    [1.125, 0.127, -0.086],
    [0.831, 0.076, 0.230],
];

/// The 12 standard lead names in the usual order.
pub const STANDARD: [&str; 12] = [
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
];

/// One lead: its name and the vector whose dot product with the dipole gives its voltage.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    /// Standard name, e.g. `aVF`.
    pub name: &'static str,
    /// Projection vector (dimensionless).
    pub vector: Vector,
}

fn comb(a: f64, x: Vector, b: f64, y: Vector) -> Vector {
    [
        a * x[0] + b * y[0],
        a * x[1] + b * y[1],
        a * x[2] + b * y[2],
    ]
}

impl Lead {
    /// The lead named `name` (case-insensitive), or an error listing the known names.
    pub fn parse(name: &str) -> Result<Lead, String> {
        let i = STANDARD
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown lead `{}` (known: {})",
                    name.trim(),
                    STANDARD.join(", ")
                )
            })?;
        let vector = match i {
            0 => I,
            1 => II,
            2 => comb(1.0, II, -1.0, I),
            3 => comb(-0.5, I, -0.5, II),
            4 => comb(1.0, I, -0.5, II),
            5 => comb(1.0, II, -0.5, I),
            v => V[v - 6],
        };
        Ok(Lead {
            name: STANDARD[i],
            vector,
        })
    }

    /// Voltage of this lead for dipole `d`.
    pub fn project(&self, d: Vector) -> f64 {
        dot(self.vector, d)
    }
}

/// Dot product.
pub fn dot(a: Vector, b: Vector) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Unit vector along `v`.
pub fn unit(v: Vector) -> Vector {
    let n = dot(v, v).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// A lead set: `12`, `3` (I, II, III), `1` (II) or a comma list of names.
pub fn parse_set(spec: &str) -> Result<Vec<Lead>, String> {
    match spec.trim() {
        "12" => STANDARD.iter().map(|n| Lead::parse(n)).collect(),
        "3" => ["I", "II", "III"].iter().map(|n| Lead::parse(n)).collect(),
        "1" => Ok(vec![Lead::parse("II")?]),
        list => {
            let leads = parse_list(list)?;
            if leads.is_empty() {
                return Err("no leads given".into());
            }
            Ok(leads)
        }
    }
}

/// A comma list of lead names (may be empty).
pub fn parse_list(list: &str) -> Result<Vec<Lead>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Lead::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn einthoven_and_goldberger_hold_for_any_dipole() {
        let l = |n| Lead::parse(n).unwrap();
        for d in [[1.0, 0.0, 0.0], [0.3, -0.7, 0.2], [-0.1, 0.4, 0.9]] {
            let (i, ii) = (l("I").project(d), l("II").project(d));
            assert!((l("III").project(d) - (ii - i)).abs() < 1e-12);
            assert!((l("aVR").project(d) + (i + ii) / 2.0).abs() < 1e-12);
            assert!((l("aVL").project(d) - (i - ii / 2.0)).abs() < 1e-12);
            assert!((l("aVF").project(d) - (ii - i / 2.0)).abs() < 1e-12);
        }
        assert_eq!(parse_set("12").unwrap().len(), 12);
        assert_eq!(parse_set("ii, v1").unwrap()[1].name, "V1");
        assert!(parse_set("II,V7").unwrap_err().contains("V7"));
    }
}
