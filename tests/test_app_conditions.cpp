// vae-train's one-hot conditions (apps/conditions.h) and the labels a data
// set carries: a row's label becomes its one-hot row, a class's rows repeat
// e_k, a model without conditions gets none, and holding out the last rows
// moves their labels with them.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "conditions.h"
#include "data_matrix.h"

namespace {

using vae_app::DataMatrix;
using Floats = std::vector<float>;

DataMatrix labelled_rows() {
  DataMatrix data;
  data.type = vae_app::ElementType::uint8;
  data.rows = 4;
  data.dim = 1;
  data.bytes = {10, 11, 12, 13};
  data.labels = {2, 0, 1, 2};
  data.labels_source = "labels.idx";
  return data;
}

TEST(AppConditions, LabelsBecomeOneHotRows) {
  const DataMatrix data = labelled_rows();
  EXPECT_EQ(vae_app::label_conditions(data, 1, 3, 3), (Floats{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(vae_app::label_conditions(data, 0, 1, 4), (Floats{0, 0, 1, 0}));
  EXPECT_THROW(vae_app::label_conditions(data, 2, 3, 3), std::out_of_range);
  EXPECT_THROW(vae_app::label_conditions(data, 0, 1, 2), std::out_of_range);  // label 2 of 2
}

TEST(AppConditions, ClassesRepeatTheirOneHotRow) {
  EXPECT_EQ(vae_app::class_conditions(2, 2, 3), (Floats{1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(vae_app::class_conditions(1, 3, 2), (Floats{1, 0, 1, 0, 1, 0}));
}

TEST(AppConditions, AModelWithoutConditionsGetsNone) {
  const DataMatrix data = labelled_rows();
  const Floats none = vae_app::label_conditions(data, 0, 4, 0);
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(vae_app::class_conditions(10, 8, 0).empty());
  EXPECT_EQ(vae_app::condition_row(none, 3, 0), nullptr);
  const Floats some = vae_app::class_conditions(2, 1, 2);
  EXPECT_EQ(vae_app::condition_row(some, 1, 2), some.data() + 2);
}

TEST(AppConditions, HoldingOutRowsMovesTheirLabels) {
  DataMatrix data = labelled_rows();
  const DataMatrix tail = vae_app::split_off_last_rows(data, 1);
  EXPECT_EQ(data.labels, (std::vector<std::uint8_t>{2, 0, 1}));
  EXPECT_EQ(tail.labels, (std::vector<std::uint8_t>{2}));
  EXPECT_EQ(tail.labels_source, "labels.idx");
  DataMatrix unlabelled = labelled_rows();
  unlabelled.labels.clear();
  EXPECT_TRUE(vae_app::split_off_last_rows(unlabelled, 2).labels.empty());
}

}  // namespace
