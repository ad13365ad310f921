// Safetensors reader/writer: round trip, the fixture files, and every corruption named clearly.
#include <gtest/gtest.h>

#include <cstring>

#include "tinybert/core/error.h"
#include "tinybert/io/safetensors.h"

using namespace tinybert;
using namespace tinybert::io;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

std::string two_tensors() {
  static const float a[6] = {1, 2, 3, 4, 5, 6};
  static const int64_t b[2] = {7, -8};
  return serialize_safetensors(
      {{"b", DType::I64, {2}, b, sizeof b}, {"a", DType::F32, {2, 3}, a, sizeof a}},
      {{"format", "pt"}});
}

// A file whose header is `header` and whose data buffer has `data_bytes` zero bytes.
std::string with_header(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

void expect_error(const std::string& bytes, const std::string& fragment) {
  try {
    SafetensorsFile::parse(bytes, "bad.safetensors");
    ADD_FAILURE() << "no error; expected: " << fragment;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
    EXPECT_NE(what.find("bad.safetensors"), std::string::npos) << what;
  }
}

}  // namespace

TEST(Safetensors, RoundTrip) {
  auto f = SafetensorsFile::parse(two_tensors(), "mem");
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  float got[6];
  std::memcpy(got, f.data(*a), sizeof got);
  EXPECT_EQ(got[5], 6.0f);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("c"), nullptr);
}

TEST(Safetensors, ReadsHuggingFaceFiles) {
  auto f = SafetensorsFile::load(kFixtures + "/tiny-teacher-cls/model.safetensors");
  const TensorInfo* w = f.find("bert.embeddings.word_embeddings.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{30522, 32}));
  EXPECT_EQ(w->dtype, DType::F32);
  auto r = SafetensorsFile::load(kFixtures + "/reference.safetensors");
  EXPECT_EQ(r.find("input_ids")->dtype, DType::I64);
}

TEST(Safetensors, Truncated) {
  std::string good = two_tensors();
  expect_error(good.substr(0, 5), "too short for the 8-byte header length");
  expect_error(good.substr(0, 20), "runs past the end of the file");
  expect_error(good.substr(0, good.size() - 4), "runs past the data buffer");
}

TEST(Safetensors, WrongDtype) {
  expect_error(with_header(R"({"x":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4),
               "unsupported dtype \"F33\"");
}

TEST(Safetensors, HeaderLiesAboutOffsets) {
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
               "has 4 bytes but dtype F32 and shape [2] need 8");
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                           8),
               "overlap or leave a hole");
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
               "tensors cover 4 bytes of a 12-byte data buffer");
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
               "are reversed");
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               "must be a non-negative integer");
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[1<<40]}})", 4), "not valid JSON");
  expect_error(with_header(R"({"x":{"dtype":"F32","shape":[1]}})", 4), "needs \"data_offsets\"");
  expect_error(with_header(R"([1,2])", 0), "not a JSON object");
}

TEST(Safetensors, MissingFileNamesThePath) {
  try {
    SafetensorsFile::load("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}
