// Task readers: GLUE layouts, the generic TSV/JSONL format, and malformed rows named by line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tinybert/core/error.h"
#include "tinybert/data/task.h"

using namespace tinybert;
using namespace tinybert::data;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path = fs::temp_directory_path() /
                  ("tinybert-task-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  static inline int counter = 0;
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
  std::string str() const { return path.string(); }
};

std::string error_of(TaskSpec spec, const Dir& d, const std::string& split) {
  try {
    read_split(spec, d.str(), split);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Task, GlueLayouts) {
  Dir d;
  d.write("train.tsv",
          "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n");
  auto cola = task_spec("CoLA");
  auto rows = read_split(cola, d.str(), "train");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].text_a, "They drank the pub.");
  EXPECT_EQ(rows[1].label, "0");
  EXPECT_EQ(cola.main_metric, "mcc");

  Dir m;
  m.write("dev_matched.tsv",
          "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_"
          "label\n"
          "0\t1\t1e\tgov\tx\tx\tx\tx\tThe cat sat.\tA cat sat.\tentailment\tentailment\n");
  auto mnli = task_spec("mnli");
  rows = read_split(mnli, m.str(), "dev");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(*rows[0].text_b, "A cat sat.");
  EXPECT_EQ(label_id(mnli, rows[0], "x"), 1);

  Dir s;
  s.write(
      "train.tsv",
      "genre\tfile\tyear\tid\tsc1\tsc2\tx\ts1\ts2\tscore\n"
      "main\tf\t2012\t1\ta\tb\tc\tA plane is taking off.\tAn air plane is taking off.\t5.000\n");
  auto stsb = task_spec("sts-b");
  rows = read_split(stsb, s.str(), "train");
  EXPECT_EQ(stsb.kind, TaskKind::Regression);
  EXPECT_EQ(rows[0].label, "5.000");
}

TEST(Task, QqpSkipsMalformedRowsAndCountsThem) {
  Dir d;
  d.write("train.tsv",
          "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
          "1\t1\t2\tHow?\tWhy?\t0\n"
          "2\t3\t4\tbroken row\n"
          "3\t5\t6\tA?\tB?\t1\n");
  auto qqp = task_spec("qqp");
  ReadReport r;
  auto rows = read_split(qqp, d.str(), "train", &r);
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_EQ(r.skipped, 1u);
}

TEST(Task, MalformedRowsFailWithTheLine) {
  Dir d;
  d.write("train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly two\n");
  auto err = error_of(task_spec("rte"), d, "train");
  EXPECT_NE(err.find("train.tsv line 3: 2 tab-separated columns, expected at least 4"),
            std::string::npos)
      << err;
  d.write("train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n");
  err = error_of(task_spec("rte"), d, "train");
  EXPECT_NE(err.find("line 2: label \"maybe\""), std::string::npos) << err;
  EXPECT_NE(error_of(task_spec("rte"), d, "dev").find("cannot open"), std::string::npos);
}

TEST(Task, GenericTsvAndJsonl) {
  Dir d;
  d.write("train.tsv", "text\tlabel\nfree money\tspam\nhello mum\tham\nwin now\tspam\n");
  d.write("dev.jsonl",
          "{\"text\": \"hi\", \"label\": \"ham\"}\n{\"text\": \"cash\", \"label\": \"spam\"}\n");
  auto g = task_spec("generic");
  auto train = read_split(g, d.str(), "train");
  EXPECT_EQ(g.labels, (std::vector<std::string>{"ham", "spam"}));
  EXPECT_EQ(g.metrics, (std::vector<std::string>{"accuracy", "f1"}));
  auto dev = read_split(g, d.str(), "dev");
  EXPECT_EQ(dev.size(), 2u);
  d.write("test.jsonl", "{\"text\": \"x\", \"label\": \"eggs\"}\n");
  EXPECT_NE(
      error_of(g, d, "test").find("label \"eggs\" is not one of the task's labels (ham, spam)"),
      std::string::npos);
  d.write("bad.jsonl", "{\"text\": \"x\"}\n{\"txt\": 1}\n");
  EXPECT_NE(error_of(g, d, "bad").find("bad.jsonl line 2"), std::string::npos);
  d.write("pairs.tsv", "text\ttext_pair\tlabel\na\tb\t1\nc\n");
  EXPECT_NE(error_of(task_spec("generic"), d, "pairs")
                .find("pairs.tsv line 3: 1 columns, the header has 3"),
            std::string::npos);
}

TEST(Task, MissingLabelsAndNonFiniteValuesAreNamed) {
  Dir d;
  d.write("nolabel.tsv", "text\ttext_pair\nhello\tworld\n");
  EXPECT_NE(
      error_of(task_spec("generic"), d, "nolabel")
          .find("nolabel.tsv line 1: the header has no \"label\" column (found: text\ttext_pair)"),
      std::string::npos);
  d.write("unlabeled.jsonl", "{\"text\": \"x\", \"label\": \"a\"}\n{\"text\": \"y\"}\n");
  auto g = task_spec("generic");
  g.labels = {"a", "b"};
  EXPECT_NE(error_of(g, d, "unlabeled").find("unlabeled.jsonl line 2: the row has no label"),
            std::string::npos);
  auto r = task_spec("generic");
  r.kind = TaskKind::Regression;
  for (const char* bad : {"nan", "inf", "-inf", "1e999", "3.5x", ""}) {
    d.write("reg.tsv", std::string("text\tlabel\na\t1.5\nb\t") + bad + "\n");
    const std::string want = *bad ? std::string("reg.tsv line 3: label \"") + bad
                                  : std::string("reg.tsv line 3: the row has no label");
    EXPECT_NE(error_of(r, d, "reg").find(want), std::string::npos) << bad;
  }
  auto stsb = task_spec("sts-b");
  d.write("dev.tsv",
          "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
          "0\tg\tf\t2012\t0\ts\ts\tA man.\tA man.\tNaN\n");
  EXPECT_NE(error_of(stsb, d, "dev").find("dev.tsv line 2: label \"NaN\" is not a finite number"),
            std::string::npos);
}

TEST(Task, UnknownTask) {
  try {
    task_spec("squad_v3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("known: cola"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("squad, squad_v2"), std::string::npos);
  }
}
