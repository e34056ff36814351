#pragma once
// Forward-mode dual numbers a + b e (e^2 = 0): evaluating a function f on x + v e gives
// f(x) + f'(x) v e, its exact directional derivative, with no step size. The gradient formula
// (gradient.cpp) is written once over its scalar type; run on duals it yields the directional
// derivative of the gradient, the part of a Hessian-vector product that does not come from the
// statistics. Only the operations that formula uses are defined.
#include <cmath>

namespace metagmm::gmm {

struct Dual {
  double value = 0.0;
  double tangent = 0.0;
  Dual() = default;
  Dual(double v, double t = 0.0) : value(v), tangent(t) {}  // NOLINT: a constant lifts implicitly

  Dual& operator+=(const Dual& o) { value += o.value; tangent += o.tangent; return *this; }
  Dual& operator-=(const Dual& o) { value -= o.value; tangent -= o.tangent; return *this; }
  Dual& operator*=(const Dual& o) {
    tangent = tangent * o.value + value * o.tangent;
    value *= o.value;
    return *this;
  }
};

inline Dual operator+(Dual a, const Dual& b) { return a += b; }
inline Dual operator-(Dual a, const Dual& b) { return a -= b; }
inline Dual operator*(Dual a, const Dual& b) { return a *= b; }
inline Dual operator-(const Dual& a) { return {-a.value, -a.tangent}; }
inline Dual operator/(const Dual& a, const Dual& b) {
  const double inverse = 1.0 / b.value;
  return {a.value * inverse, (a.tangent - a.value * inverse * b.tangent) * inverse};
}
inline Dual exp(const Dual& a) {
  const double e = std::exp(a.value);
  return {e, e * a.tangent};
}

// The value of x + v e, as the scalar type T: a dual, or the plain value.
template <typename T>
T lift(double value, double tangent);
template <>
inline double lift<double>(double value, double) { return value; }
template <>
inline Dual lift<Dual>(double value, double tangent) { return {value, tangent}; }

inline double value_of(double x) { return x; }
inline double value_of(const Dual& x) { return x.value; }

}  // namespace metagmm::gmm
