// Face mode's cascade and search settings, measured: for each of opencv-data's
// frontal-face cascades and a few detectMultiScale settings, how often the
// largest detection is the labelled subject's face, and on how many pet photos
// (which have no human face) anything is found. bench/face_cascades.sh runs it.
//
//   bench_face_cascades LABELS PETS_DIR [MAX_PETS]
// LABELS: one photo per line, "path<TAB>x y w h" (the subject's face box).
// MAX_PETS: an evenly spread sample of the pet photos (cats and dogs alike).
// The larger minimum face size is applied to the smaller one's detections
// (what detectMultiScale's minSize does, without searching twice).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/face.h"

namespace fs = std::filesystem;

namespace {

struct LabelledPhoto {
  fs::path file;
  cv::Rect subject;
};

std::vector<LabelledPhoto> read_labels(const fs::path& file) {
  std::vector<LabelledPhoto> photos;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    LabelledPhoto photo{line.substr(0, tab), {}};
    std::istringstream box(line.substr(tab + 1));
    box >> photo.subject.x >> photo.subject.y >> photo.subject.width >> photo.subject.height;
    photos.push_back(photo);
  }
  return photos;
}

double overlap(const cv::Rect& a, const cv::Rect& b) {
  const double shared = (a & b).area();
  return shared / (a.area() + b.area() - shared);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_face_cascades LABELS PETS_DIR [MAX_PETS]\n";
    return 2;
  }
  const auto photos = read_labels(argv[1]);
  const catdog::DatasetIndex pet_index = catdog::scan_dataset(argv[2]);
  std::vector<fs::path> pets;
  for (const auto& sample : pet_index.samples) pets.push_back(pet_index.root / sample.path);
  if (const size_t wanted = argc > 3 ? std::stoul(argv[3]) : pets.size(); wanted < pets.size()) {
    std::vector<fs::path> sample;
    for (size_t i = 0; i < wanted; ++i) sample.push_back(pets[i * pets.size() / wanted]);
    pets = sample;
  }

  std::vector<cv::Mat> photo_images, pet_images;
  for (const auto& photo : photos) photo_images.push_back(catdog::decode_rgb(photo.file));
  for (const auto& pet : pets) pet_images.push_back(catdog::decode_rgb(pet));

  const char* cascades[] = {"haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
                            "haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_alt_tree.xml"};
  const auto largest_of = [](const std::vector<cv::Rect>& faces) {
    return std::max_element(faces.begin(), faces.end(),
                            [](const cv::Rect& a, const cv::Rect& b) { return a.area() < b.area(); });
  };
  // Detections at least 1/divisor of the image's shorter side.
  const auto at_least = [](std::vector<cv::Rect> faces, const cv::Mat& image, int divisor) {
    const int side = std::min(image.cols, image.rows) / divisor;
    faces.erase(std::remove_if(faces.begin(), faces.end(), [&](const cv::Rect& f) { return f.width < side; }),
                faces.end());
    return faces;
  };

  std::printf("| cascade | minNeighbors | min face | subject found | wrong face | none | pets with a face | pet detections |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const char* cascade : cascades)
    for (int neighbors : {3, 5}) {
      catdog::FaceFinder finder(catdog::find_face_cascade(cascade), {neighbors, 1.0 / 12});
      std::vector<std::vector<cv::Rect>> photo_faces, pet_faces;
      for (const auto& image : photo_images) photo_faces.push_back(finder.faces(image));
      for (const auto& image : pet_images) pet_faces.push_back(finder.faces(image));
      for (int divisor : {12, 8}) {
        int found = 0, wrong = 0, none = 0, pets_hit = 0, pet_detections = 0;
        for (size_t i = 0; i < photos.size(); ++i) {
          const auto faces = at_least(photo_faces[i], photo_images[i], divisor);
          if (faces.empty())
            ++none;
          else if (overlap(*largest_of(faces), photos[i].subject) >= 0.4)
            ++found;
          else
            ++wrong;
        }
        for (size_t i = 0; i < pets.size(); ++i) {
          const auto faces = at_least(pet_faces[i], pet_images[i], divisor);
          pets_hit += !faces.empty();
          pet_detections += static_cast<int>(faces.size());
        }
        std::printf("| %s | %d | 1/%d | %d/%zu | %d | %d | %d/%zu | %d |\n", cascade, neighbors, divisor, found,
                    photos.size(), wrong, none, pets_hit, pets.size(), pet_detections);
        std::fflush(stdout);
      }
    }
  return 0;
}
