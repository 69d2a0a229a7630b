"""The numbers of "On the Connection of Deep Fusion to Ensembling" (arXiv 1611.07718) that the
study commands print beside ours: CIFAR-10 test errors in percent (docs/reference.md,
section 4)."""

#: Table 1: num_depth -> (the three-fusion net N_f3 = fuse3, the conventional ensemble of
#: its 8 components with shared weights)
TABLE1 = {14: (7.99, 8.00), 20: (7.20, 7.07), 26: (7.06, 6.92), 38: (8.09, 6.96),
          50: (8.79, 7.03), 56: (8.85, 7.36), 62: (9.04, 7.79), 74: (9.41, 8.14),
          98: (9.95, 8.80), 110: (13.2, 10.1)}

#: Table 3: num_depth -> (the ensemble without LLL, RLL, LRL, LLR, RRL, RLR, LRR, RRR,
#: then the whole ensemble). The paper orders the components LLL RLL LRL LLR RRL RLR LRR RRR.
TABLE3_ORDER = ('LLL', 'RLL', 'LRL', 'LLR', 'RRL', 'RLR', 'LRR', 'RRR')
TABLE3 = {26: (6.78, 6.81, 7.00, 6.92, 6.98, 7.19, 7.21, 7.34, 6.92),
          38: (6.85, 6.90, 6.85, 7.22, 6.85, 7.15, 7.02, 7.18, 6.96),
          50: (7.06, 7.08, 6.89, 7.34, 7.00, 7.38, 7.15, 7.14, 7.03),
          62: (7.83, 7.72, 7.61, 7.90, 7.62, 7.95, 8.10, 8.05, 7.79),
          74: (7.87, 7.85, 8.04, 8.13, 8.36, 8.48, 8.43, 8.37, 8.14),
          98: (8.92, 8.90, 8.63, 9.64, 8.74, 9.75, 8.65, 8.72, 8.80),
          110: (9.70, 9.65, 9.39, 10.20, 9.36, 10.14, 9.46, 9.48, 9.61)}
